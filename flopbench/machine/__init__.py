"""What the machine is: the device's facts and peaks (with provenance), its sustained clock, the roofline model,
the software environment, and the ceilings cached per machine."""
