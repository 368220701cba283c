# The demo's Python script: the pod's file, a service by name, and a call.
import socket, urllib.request
print("hostname:", socket.gethostname())
print("/app/test.txt:", repr(open("/app/test.txt").read()))
print("internal-only resolves to", socket.gethostbyname("internal-only"))
print("GET http://internal-only/:", repr(urllib.request.urlopen("http://internal-only/", timeout=5).read().decode()))
