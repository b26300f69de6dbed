"""Export a model's official prompting recipe from mteb's registry into ``instructions/<org>__<model>.yaml``.

- ``recorder``: mteb's own wrapper run on a recording stand-in for the model (no weights);
- ``recipe``: what the recorder saw, split into format prefix, template and instruction, verified and written.
"""
