"""Export: the final Any2CapIns instances, and the dataset card."""
