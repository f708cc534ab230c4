"""The native v1 routes, one module per resource; each exports `ENDPOINTS`."""
