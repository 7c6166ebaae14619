"""What each simulated device says, as pure functions of time and a seeded random source.

A resident's day (sleep, meals, walks, a nap) drives the wearable's heart rate, steps and
SpO2; batteries drain; the fire-water network sits in a jockey-pump cycle (a slow leak-down,
then a top-up); electrical panels follow a load curve (meals in the kitchen, mornings and
evenings on the floors) and their cables warm with the square of the current. Zigbee
devices speak Zigbee2MQTT's payloads. `act` plays a scenario's happenings (a fall, a pump
failure, an overheating cable...); docs/simulator.md lists them.

Time: `at_s` is simulated seconds since the start; `start_hour` is the simulated clock's
hour of day at that start (None: the wall clock of each timestamp).

The models by family: base.py (the message, reporting intervals, the actions table, the
clock every model keeps), wearable.py (the resident's day, vitals, raw acceleration),
building.py (fire water, electrical panels, room temperature), zigbee.py (Zigbee2MQTT
payloads), device.py (DeviceModel: one device's state, its schedule and its happenings);
builtin.py the built-in scenarios of `carewatch demo`.
"""

from simulators.models.base import Out, actions_for
from simulators.models.builtin import Step, scenario
from simulators.models.device import DeviceModel

__all__ = ["DeviceModel", "Out", "Step", "actions_for", "scenario"]
