#!/usr/bin/python3
"""Round trip through Wisp with Eclipse Paho Python (python3-paho-mqtt 1.6).

A subscriber and a publisher, each over tcp or websockets, MQTT 3.1.1 or 5.0: the subscriber
subscribes (waits for SUBACK), the publisher sends --count messages, the subscriber must receive
all of them intact and in order. Prints "OK <count>" and exits 0, else explains and exits 1.
Endpoints: "tcp:PORT", "ws:PORT:/path", and over TLS (needs --cafile) "tls:PORT",
"wss:PORT:/path".
"""
import argparse
import sys
import threading

import paho.mqtt.client as mqtt

HOST = "localhost"  # the development certificate names localhost, 127.0.0.1 and ::1


def make_client(endpoint, version, name, cafile):
    kind, port, *rest = endpoint.split(":")
    proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
    transport = "websockets" if kind in ("ws", "wss") else "tcp"
    c = mqtt.Client(client_id=name, protocol=proto, transport=transport)
    if kind in ("ws", "wss"):
        c.ws_set_options(path=rest[0] if rest else "/mqtt")
    if kind in ("tls", "wss"):
        c.tls_set(ca_certs=cafile)
    return c, int(port)


def connect(c, port, version):
    done = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, rc, properties=None):
        result["rc"] = rc
        done.set()

    c.on_connect = on_connect
    if version == 5:
        c.connect(HOST, port, keepalive=30, clean_start=True)
    else:
        c.connect(HOST, port, keepalive=30)
    c.loop_start()
    if not done.wait(10) or result.get("rc") != 0:
        raise SystemExit(f"connect failed: {result}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sub", required=True)
    ap.add_argument("--pub", required=True)
    ap.add_argument("--version", type=int, default=4)
    ap.add_argument("--qos", type=int, default=1)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--topic", default="paho/test")
    ap.add_argument("--cafile", default=None)
    a = ap.parse_args()

    got = []
    all_in = threading.Event()
    subscribed = threading.Event()
    sub, sport = make_client(a.sub, a.version, "paho-sub", a.cafile)
    pub, pport = make_client(a.pub, a.version, "paho-pub", a.cafile)

    def on_message(client, userdata, msg):
        got.append(msg.payload)
        if len(got) >= a.count:
            all_in.set()

    def on_subscribe(client, userdata, mid, granted, properties=None):
        subscribed.set()

    sub.on_message = on_message
    sub.on_subscribe = on_subscribe
    connect(sub, sport, a.version)
    sub.subscribe(a.topic, qos=a.qos)
    if not subscribed.wait(10):
        raise SystemExit("no SUBACK")
    connect(pub, pport, a.version)
    want = []
    for i in range(a.count):
        body = (f"{i:08d}:" + "x" * a.size)[: max(a.size, 9)].encode()
        want.append(body)
        pub.publish(a.topic, body, qos=a.qos).wait_for_publish(10)
    if not all_in.wait(30):
        raise SystemExit(f"received {len(got)} of {a.count}")
    if got != want:
        raise SystemExit("payloads differ or out of order")
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    print(f"OK {len(got)}")


if __name__ == "__main__":
    main()
