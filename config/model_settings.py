"""Settings of the models and of search quality: encoders, vocabularies, tags, blend weights,
trained word models. Read from the environment like the rest (`config.settings` imports them);
the figures behind each default are in docs/search.md and docs/learning.md."""

from pathlib import Path

from config.env import LOCAL_DIR, env_bool, env_int, env_str

IMAGE_ENCODER = env_str("IMAGE_ENCODER", "efficientnet_lite0")  # or "vgg16"
ENCODER_RUNTIME = env_str("ENCODER_RUNTIME", "onnx")  # or "torch"
MODEL_DIR = Path(env_str("MODEL_DIR", str(LOCAL_DIR / "models")))  # exported ONNX models
VGG16_WEIGHTS = env_str("VGG16_WEIGHTS", "") or None  # a .pth file; else torchvision's cache
# Threads of the encoder in each process (0: one per core). One: a worker process also decodes,
# thumbnails and writes between encoder runs, so one single-threaded process per core kept 2 cores
# busier than one process with two threads (`manage.py benchmark_ingest`).
ENCODER_THREADS = env_int("ENCODER_THREADS", 1)
WORD_VECTORS_LIMIT = env_int("WORD_VECTORS_LIMIT", 400_000)  # most frequent GloVe words loaded
TAG_VOCABULARY_SIZE = env_int("TAG_VOCABULARY_SIZE", 50_000)  # tags come from the N most frequent words
TAGS_PER_IMAGE = env_int("TAGS_PER_IMAGE", 10)
CONSE_TOP_T = env_int("CONSE_TOP_T", 10)  # ConSE's T in a word-vector (GloVe) space
# The word space new catalogues get: "sentence" (all-MiniLM-L6-v2, queries embedded whole) or
# "glove" (GloVe 6B 50-d, a query is the mean of its words). docs/search.md has the figures.
WORD_SPACE = env_str("WORD_SPACE", "sentence")
# A sentence space's Word rows: the N most frequent tag words of the GloVe list, embedded once
# (cached as .npy under MODEL_DIR); they serve similar words and spelling, not queries.
SENTENCE_VOCABULARY_SIZE = env_int("SENTENCE_VOCABULARY_SIZE", 40_000)
SENTENCE_THREADS = env_int("SENTENCE_THREADS", 1)  # ONNX Runtime threads of the sentence encoder
# ConSE's T over the sentence-space class prototypes (ml.prototypes.TOP_CLASSES: measured 20).
SENTENCE_CONSE_TOP_T = env_int("SENTENCE_CONSE_TOP_T", 20)
EMBED_BATCH_SIZE = env_int("EMBED_BATCH_SIZE", 16)
SEARCH_MAX_K = env_int("SEARCH_MAX_K", 100)
# How deep the search pages go (page × results per page); each page ranks everything before it.
SEARCH_MAX_DEPTH = env_int("SEARCH_MAX_DEPTH", 1000)
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 100)
# Each space's HNSW graph, by kind: (m, ef_construction). A change applies to indexes built after
# it (a new space, `compact_vectors`, a re-import). Chosen by the sweep in docs/benchmarks.md.
# Sweep at 100k items (recall@10 at ef_search 100): image (16, 64) 0.834, (16, 128) 0.916, (24, 128)
# 0.936-0.965; meaning (16, 64) already 0.981; joint (16, 64) 0.960, (16, 128) 0.975. HNSW_M and
# HNSW_EF_CONSTRUCTION set every kind at once.
_M, _EF_CONSTRUCTION = env_int("HNSW_M", 0), env_int("HNSW_EF_CONSTRUCTION", 0)
HNSW_BUILD = {
    kind: (_M or m, _EF_CONSTRUCTION or ef_construction)
    for kind, (m, ef_construction) in {
        "default": (16, 64),
        "image": (24, 128),
        "meaning": (16, 64),
        "joint": (16, 128),
    }.items()
}
# Seconds a web process searches the active spaces it read before reading them again (one query
# a request saved; spaces.selectors.serving_spaces); 0: read them for every search.
SERVING_SPACES_SECONDS = float(env_str("SERVING_SPACES_SECONDS", "5"))
# Focused search re-ranks this many candidates from the plain index exactly (docs/benchmarks.md:
# recall against the exact scan at each size); 0: the exact scan of every item (slow past 100k).
FOCUS_CANDIDATES = env_int("FOCUS_CANDIDATES", 400)
# Hybrid word search: an item's score is the weighted mean of its vector similarity (weight 1)
# and the strength (0-1) of its text match (title, category, description, confident tags;
# weight HYBRID_TEXT_WEIGHT): a title an admin wrote lifts an item, yet a weak text match stays
# below a strong vector match.
HYBRID_TEXT_WEIGHT = float(env_str("HYBRID_TEXT_WEIGHT", "1.0"))
# "More like this" and search by photo in blend mode: the meaning space's share of the similarity.
# Measured on the dev photos (precision@10 within Pascal categories): 0.5 -> 0.792, 0.6 -> 0.801,
# 0.7 -> 0.802, 0.8 -> 0.803; 0.7 sits in the plateau and keeps looks mattering.
BLEND_MEANING_WEIGHT = float(env_str("BLEND_MEANING_WEIGHT", "0.7"))
# Word search: share of the meaning space for words that name WordNet synsets, against the word
# space (measured in bench/word_search_quality.py, WORD_MEANING_WEIGHT). GloVe spaces only: in the
# sentence space the blend lowers Pascal R-precision (0.922 -> 0.849, bench.measure_words).
WORD_MEANING_WEIGHT = float(env_str("WORD_MEANING_WEIGHT", "0.7"))
SENTENCE_MEANING_WEIGHT = float(env_str("SENTENCE_MEANING_WEIGHT", "0"))
# Trained image-to-word models (learning.training): defaults chosen by measurement, see the README.
# The head: "auto" is the ridge head on the items' texts in a sentence space (bench.learning_quality,
# flickr8k-dev: P@10 0.49 against 0.45 contrastive), the tutorial's DeViSE head in a word-vector space.
JOINT_HEAD = env_str("JOINT_HEAD", "auto")  # or ridge, contrastive, devise
# Share of the zero-shot vector in a linear head's stored vectors (flickr8k-dev: 0 -> 0.477, 0.25 -> 0.488,
# 0.5 -> 0.457 P@10); word search also blends in the zero-shot space by familiarity (ml.familiarity).
JOINT_TEXT_BLEND = float(env_str("JOINT_TEXT_BLEND", "0.25"))
# Training on its own (learning.tasks.train_when_due, in beat): once JOINT_AUTO_TRAIN_MIN items have
# text and a model exists for fewer than JOINT_AUTO_TRAIN_NEW of them (or none does); checked every
# JOINT_AUTO_TRAIN_INTERVAL seconds (config/settings.py, the beat schedule).
JOINT_AUTO_TRAIN = env_bool("JOINT_AUTO_TRAIN", False)
JOINT_AUTO_TRAIN_MIN = env_int("JOINT_AUTO_TRAIN_MIN", 200)
JOINT_AUTO_TRAIN_NEW = env_int("JOINT_AUTO_TRAIN_NEW", 200)
JOINT_LOSS = env_str("JOINT_LOSS", "cosine")  # or "hinge" (DeViSE's rank loss)
JOINT_HIDDEN = env_int("JOINT_HIDDEN", 512)  # the head's hidden layer
JOINT_BLEND = float(env_str("JOINT_BLEND", "0.5"))  # share of the zero-shot (ConSE) vector in a trained space
JOINT_HOLDOUT = float(env_str("JOINT_HOLDOUT", "0.2"))  # labelled items kept out of training, for evaluate
# One thread: on 2 shared cores, 2 OpenMP threads ran the head 9x slower (spinning at every small op).
TRAINING_THREADS = env_int("TRAINING_THREADS", 1)
# After training, switch to the new space if it beats the active one on the catalogue's evaluation.
JOINT_AUTO_ACTIVATE = env_bool("JOINT_AUTO_ACTIVATE", True)
# Refuse to activate a joint space that does not beat the active one on the catalogue's evaluation.
JOINT_ACTIVATION_REQUIRES_IMPROVEMENT = env_bool("JOINT_ACTIVATION_REQUIRES_IMPROVEMENT", False)
