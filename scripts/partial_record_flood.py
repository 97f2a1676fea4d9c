#!/usr/bin/env python3
"""Issue 11 item 3, measured: 400 connections from 4 loopback addresses
each announce a 1 MiB record, send 900 KiB of it and stall. Prints the
server's RSS idle, under the flood, and 5 s after the connections close.

    python3 scripts/partial_record_flood.py target/debug/nfsl [serve options]

(Loopback only; binds 127.0.0.1-4 as source addresses.)
"""
import socket, subprocess, sys, time, os, resource, struct, tempfile
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
nfsl = sys.argv[1]; extra = sys.argv[2:]
d = tempfile.mkdtemp(); st = tempfile.mkdtemp()
p = subprocess.Popen([nfsl, "serve", d, "-o", "rw,insecure", "--port", "0", "--bind", "127.0.0.1", "--state-dir", st, "--no-localio"] + extra,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
line = p.stdout.readline(); port = int(line.strip().rsplit(":", 1)[1])
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
base = rss()
socks = []
payload = struct.pack(">I", 0x80000000 | (1 << 20)) + b"\0" * (900 << 10)
for a in range(1, 5):
    for i in range(100):
        s = socket.socket(); s.bind((f"127.0.0.{a}", 0)); s.connect(("127.0.0.1", port))
        s.setblocking(False)
        try: s.send(payload)
        except BlockingIOError: pass
        socks.append(s)
time.sleep(3)
peak = rss()
for s in socks: s.close()
time.sleep(5)
after = rss()
print(f"connections={len(socks)} rss_mib: idle={base} under_attack={peak} after_close={after}")
p.terminate(); p.wait()
