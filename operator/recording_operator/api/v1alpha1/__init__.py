"""`recording.mediaops.io/v1alpha1`: one module per kind (`cloudrecording`, `cloudtranscoder`,
`localrecording`, `recordedfile`), what they share (`common`), Agora storage regions
(`storage_regions`), and the CRD declarations of all four (`crds`)."""
