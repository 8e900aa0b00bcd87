obj.spec.state = "Recording"
return obj
