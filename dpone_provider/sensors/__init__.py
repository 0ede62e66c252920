"""dpone sensors for Airflow."""
