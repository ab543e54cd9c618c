"""Serving a trained model: batch scoring (``score``), exact SHAP explanations (``explain``,
``woodelf_lgb``), drift, segment peers, the likely cause, the playbook's next step and the plain
sentences a CSM reads. Training lives in ``models``; MLflow in ``tracking``."""
