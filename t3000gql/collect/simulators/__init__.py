"""Protocol simulators for tests and demos: a T3 controller on Modbus TCP and a BACnet/IP device.

Import the module you need (`t3_modbus` or `bacnet`): each loads its protocol stack on import. The runnable
front ends are `scripts/t3_modbus_sim.py` and `scripts/bacnet_sim.py`.
"""
