"""Finding known people (users with selfies, or a gallery) among the face embeddings of photos.

Pure numpy over dlib ResNet embeddings (128-d, Euclidean distance), no catalog and no model:

* :mod:`eventlens.match.confidence`: face distance <-> confidence in [0, 1] (the documented mapping);
* :mod:`eventlens.match.selfies`: which users are in which event photos (``match_users``), the selfie's face
  (``largest_face``) and the confidence buckets (``bucket``);
* :mod:`eventlens.match.vector_index`: an exact in-memory nearest-neighbour index for galleries.

How the defaults were chosen: docs/matching.md and BENCHMARKS.md, "Selfie matching (issue 10)".
"""
