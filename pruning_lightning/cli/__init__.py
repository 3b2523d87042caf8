"""The LightningCLI of ``fit``/``validate``/``test`` (``lightning_cli``), its checkpoint rules (``resume``), the
configuration parser built like it (``config``) and the parser mode that hands ``-c`` files to the one reader
(``parser_mode``). Light on purpose: ``config`` is read without Lightning."""
