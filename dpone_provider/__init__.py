"""dpone's Airflow provider: hook, run operator, deferrable load sensor, task-group and DAG factories.

Import the pieces from their modules (as Airflow's own providers do)::

    from dpone_provider.hooks.dpone import DponeHook
    from dpone_provider.operators.run import DponeRunOperator
    from dpone_provider.sensors.load import DponeLoadSensor
    from dpone_provider.task_group import dpone_dag, dpone_task_group

This package imports nothing at the top level: Airflow imports it whenever it discovers providers.
See docs/airflow.md.
"""
