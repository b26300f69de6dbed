"""Task definitions: the task files users write (``tasks/<Name>/``) → validated specs → real mteb tasks.

- ``spec``: the ``task.yaml`` schema (pydantic, ``extra="forbid"``);
- ``data``: reading and checking data files into the dataset shape mteb expects;
- ``local``: a task folder (spec, content hash, data, mteb task) and the registry of all task folders;
- ``mteb_task``: building the mteb task class (imports mteb; loaded only when a task is evaluated or validated);
- ``ding``: building the translation tasks' data from Debian's German–English dictionary.

(Named ``taskspecs`` so it is never confused with the top-level ``tasks/`` folder that holds the data.)

May import: :mod:`harness.core` only (plus pandas, pydantic, datasets and mteb where named above).
"""
