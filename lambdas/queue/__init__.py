"""The encoding queue: admission into a bounded number of slots, in priority order with aging and fairness."""
