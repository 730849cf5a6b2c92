"""Cost per job: prices as data, the estimate from a plan, the measurement from what ran."""
