"""Modbus TCP client for the Zhizao.Modbus server interop tests: pymodbus (Debian python3-pymodbus) reads and writes
our ModbusTcpServer and prints one JSON object with what it saw.

Usage: /usr/bin/python3 modbus_client.py PORT
Expects unit 1 with holding registers 0..9 = i * 3, input registers 0..4 = 100 + i, discrete inputs 0..7 = (i % 2 == 0),
and unit 2 with holding register 0 = 2; unit 9 does not exist. Every request's result goes into the JSON, keyed by step.
"""
import json
import sys

import pymodbus
from pymodbus.client import ModbusTcpClient


def result(r, field):
    if r.isError():
        return {"exception": getattr(r, "exception_code", None), "text": str(r)}
    return getattr(r, field)


def main(port):
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=5, retries=0)
    if not client.connect():
        print(json.dumps({"error": "connect failed"}))
        return 1
    out = {"version": pymodbus.__version__}
    out["fc3"] = result(client.read_holding_registers(0, 10, slave=1), "registers")
    out["fc4"] = result(client.read_input_registers(0, 5, slave=1), "registers")
    bits = client.read_discrete_inputs(0, 8, slave=1)
    out["fc2"] = result(bits, "bits")[:8] if not bits.isError() else result(bits, "bits")
    out["fc5"] = result(client.write_coil(5, True, slave=1), "value")
    out["fc15"] = result(client.write_coils(10, [True, False, True], slave=1), "count")
    coils = client.read_coils(0, 16, slave=1)
    out["fc1"] = result(coils, "bits")[:16] if not coils.isError() else result(coils, "bits")
    out["fc6"] = result(client.write_register(100, 0xBEEF, slave=1), "value")
    out["fc16"] = result(client.write_registers(101, [1, 2, 3], slave=1), "count")
    out["fc23"] = result(client.readwrite_registers(read_address=100, read_count=4, write_address=200,
                                                   write_registers=[7, 8], unit=1), "registers")  # 3.0.0rc1: readwrite takes unit=, not slave=
    out["unit2"] = result(client.read_holding_registers(0, 1, slave=2), "registers")
    out["bad_address"] = result(client.read_holding_registers(9998, 10, slave=1), "registers")
    out["unknown_unit"] = result(client.read_holding_registers(0, 1, slave=9), "registers")
    client.close()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
