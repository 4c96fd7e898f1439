"""Human-readable reports: the HTML gallery."""
