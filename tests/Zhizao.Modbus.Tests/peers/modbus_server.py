"""Modbus TCP server for Zhizao.Modbus interop tests: pymodbus (Debian python3-pymodbus) with a preloaded datastore.

Usage: /usr/bin/python3 modbus_server.py PORT
Prints "READY <port> <pymodbus version>" on stdout once it listens. Units 1 and 2 each have 1000 coils, discrete
inputs, holding and input registers at zero-based addresses 0..999. Preloaded values (the tests rely on them):
  discrete inputs: address i is (i % 3 == 0)
  input registers: address i holds i * 10
  holding registers 0..99: i; coils: all False
Unit 2 holding register 0 holds 2. Any other unit id gets no answer (pymodbus drops the request).
"""
import asyncio
import sys

import pymodbus
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer

SIZE = 1000


def make_unit(marker):
    hr = list(range(SIZE))
    hr[0] = marker
    return ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, [i % 3 == 0 for i in range(SIZE)]),
        co=ModbusSequentialDataBlock(0, [False] * SIZE),
        hr=ModbusSequentialDataBlock(0, hr),
        ir=ModbusSequentialDataBlock(0, [(i * 10) & 0xFFFF for i in range(SIZE)]),
        zero_mode=True,
    )


async def main(port):
    context = ModbusServerContext(slaves={1: make_unit(0), 2: make_unit(2)}, single=False)
    server = await StartAsyncTcpServer(context=context, address=("127.0.0.1", port), defer_start=True,
                                       allow_reuse_address=True)
    task = asyncio.ensure_future(server.serve_forever())
    await server.serving
    print(f"READY {port} {pymodbus.__version__}", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
