"""The LightningCLI of ``fit``/``validate``/``test`` (``lightning_cli``), its checkpoint rules (``resume``) and the
configuration reader built like it (``config``). Light on purpose: ``config`` is read without Lightning."""
