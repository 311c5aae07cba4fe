"""The pure core: parsing, routing, rendering, write plans, settings; imports neither Airflow nor a network library."""
