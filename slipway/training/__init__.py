"""What runs inside a job process: the SageMaker-style contract, the runner, metric capture, built-ins.

Kept free of heavy imports: a script-mode job must reach the user's code without pandas or scikit-learn.
"""
