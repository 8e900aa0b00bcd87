"""The sandbox: a Kubernetes API emulator (`kube`), Agora and RealtimeKit emulators, moto S3, a Pod runner
and a Job controller standing in for kubelet, and the demo. It never ships (not in the wheel nor in
either image); tests and `make demo` / `make sandbox` use it through `python -m recording_sandbox`."""
