"""any2capins: build Any2CapIns-style instruction data for controllable video generation.

Light on purpose: importing the package loads no torch, Ray or model code.
"""

__version__ = "0.1.0"
