#!/usr/bin/env python3
"""A tiny, fast local sink: answers every HTTP/1.1 request with 202 and an empty body.

asyncio Protocol with hand-rolled keep-alive parsing (no per-request framework
objects), so one core answers several tens of thousands of requests per second;
bench/run.sh measures and reports its capacity in every run.

usage: sink.py PORT
"""
import asyncio
import sys

RESPONSE = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"


class Sink(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        buf = self.buf + data
        out = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].lower()
            length = 0
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17 : j if j >= 0 else len(head)])
            total = end + 4 + length
            if len(buf) < total:
                break
            buf = buf[total:]
            out.append(RESPONSE)
        self.buf = buf
        if out:
            self.transport.write(b"".join(out))


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
