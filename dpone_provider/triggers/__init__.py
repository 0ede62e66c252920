"""dpone triggers for Airflow."""
