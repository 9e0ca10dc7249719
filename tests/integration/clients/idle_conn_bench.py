#!/usr/bin/python3
"""Event-backend measurement: cost of activity on one connection while N connections idle.

Opens N MQTT connections (CONNECT, keepalive 0) that then stay silent, then times R
PINGREQ/PINGRESP round trips on one extra connection and reads the broker's CPU time
(/proc/PID/stat utime+stime) spent during them. With poll(), every wake-up scans all N
sockets, so both grow with N; with epoll-based backends they should not.
Usage: idle_conn_bench.py PORT BROKER_PID N [ROUNDS]
Prints: idle=N rounds=R rtt_us_median=.. rtt_us_p99=.. broker_cpu_us_per_round=..
"""
import os
import socket
import struct
import sys
import time


def connect_packet(cid):
    body = struct.pack("!H", 4) + b"MQTT" + bytes([4, 2]) + struct.pack("!H", 0)
    body += struct.pack("!H", len(cid)) + cid
    return bytes([0x10, len(body)]) + body


def cpu_us(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1e6 / os.sysconf("SC_CLK_TCK")


def open_conn(port, cid):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(connect_packet(cid))
    ack = b""
    while len(ack) < 4:
        chunk = s.recv(4 - len(ack))
        if not chunk:
            raise SystemExit("connection refused by broker")
        ack += chunk
    return s


def main():
    port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3000
    idle = [open_conn(port, f"idle-{i}".encode()) for i in range(n)]
    active = open_conn(port, b"active")
    rtts = []
    c0 = cpu_us(pid)
    for _ in range(rounds):
        t = time.perf_counter()
        active.sendall(b"\xc0\x00")
        got = b""
        while len(got) < 2:
            got += active.recv(2 - len(got))
        rtts.append((time.perf_counter() - t) * 1e6)
    c1 = cpu_us(pid)
    rtts.sort()
    print(f"idle={n} rounds={rounds} rtt_us_median={rtts[len(rtts)//2]:.1f} "
          f"rtt_us_p99={rtts[int(len(rtts)*0.99)]:.1f} "
          f"broker_cpu_us_per_round={(c1 - c0) / rounds:.1f}")
    for s in idle + [active]:
        s.close()


if __name__ == "__main__":
    main()
