"""A tiny BERT for tests and benchmarks: real transformers code, random weights, no download.

Also the few helpers several test files share (temporary names of other writers, crafted model files).
"""

import subprocess
import sys
from pathlib import Path

from ._files import TEMPORARY_PREFIX, temporary_name
from .models.fusion import FusionModule

__all__ = [
    "HOSTILE_NAMES",
    "ended_process_id",
    "temporary_name_of",
    "genuine_model_files",
    "mutate_model_file",
    "ReferenceFusionModule",
    "reference_fusion_forward",
    "reference_inner_cv_choice",
    "save_bert_tokenizer",
    "save_tiny_bert",
    "tiny_bert_vocabulary",
]


def temporary_name_of(name, *, pid=None, host=None):
    """The temporary name :func:`~sklearn_llmrad._files.temporary_name` gives, as another process or machine.

    Parameters
    ----------
    name : str
        The final file name.
    pid : int, default=None
        The writer's process id (None: this process).
    host : str, default=None
        The writer's host tag (None: this machine).

    Returns
    -------
    str

    Examples
    --------
    >>> temporary_name_of("a.csv", pid=1).endswith("a.csv")
    True
    """
    tag, own_pid, random_part, rest = temporary_name(name)[len(TEMPORARY_PREFIX) :].split("-", 3)
    return f"{TEMPORARY_PREFIX}{host or tag}-{own_pid if pid is None else pid}-{random_part}-{rest}"


def ended_process_id():
    """The id of a process that has ended (a writer that was killed, for sweep tests).

    Returns
    -------
    int
    """
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

#: Whole words of the feature descriptions (``descriptions.describe_feature``
#: over every PyRadiomics feature and image type) and of the clinical
#: sentences, plus a few common words; lower case (the tokenizer lowercases).
_WORDS = """
a abrupt absolute across after almost along among an and approaches area areas around as asymmetry
autocorrelation available average axial axis balance band between bi binary blob breast breasts bright
brightest brightness busyness by calcification cancer change changes circle circular circularity clinical
closely cluster co coarse coarseness coefficient compactness complex complexity concentration contrast
coronal correlation count dark darkest dense densest density dependence dependent detail deviation
diagonal diameter difference differences different disease disproportion dissimilarity distance distinct
dominance each edges elongated elongation emphasis emphasises enclosed encodes energy entirely entropy
equal exponential extremely family fatty few fibroglandular filter fine first flat flatness fraction
frequency frequent from gaussian glcm gldm glrlm glszm gradient gray grouping grows half heterogeneity
heterogeneous heterogeneously hh high highlights histogram history hl homogeneity homogeneous horizontal
how image in independent information informational intensities intensity interquartile inverse irregular
its joint kurtosis laplacian large largest least length lengths lesion level levels lh like linear ll
llh lobulated local logarithm long longest low magnitude major many margin marked maximal maximum mean
measure median mesh micro middle minimum minor mm moment most neighbour neighbourhood neighbouring
neighbours ngtdm no non normalized occurrence of old opposite or order orderly original outline outlying
overall pair pairs pattern peakedness per percentage percentile percentiles perimeter pixel pixels plane
principal probability prominence rads randomness range rapid ratio regions relative relevant robust root
roundness run runs sagittal scaled scattered second shade shape share short shortest shows sigma similar
similarity size sizes skewness slow small smallest smoothed spatial sphere spherical sphericity spiculated
spread square squared squares standard strength structure structures sub such sum sums surface tendency
texture the thickness tissue to total towards transform typical uniform uniformity value values
variability variance vertical very visually volume voxel wavelet weighting where width with woman year
zone zones
at be biopsy benign cm custom diagnostic diagnostics extraction feature features female for firstorder
has is left malignant mass mother none not on patient prior right score sister surgery this unknown was
years yes
"""

#: Word endings, so words outside ``_WORDS`` split into few pieces.
_SUFFIXES = "s es ed ing ly al ity ness er est ation ic ous th st nd rd y"

_ASCII_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"


def tiny_bert_vocabulary():
    """The tiny BERT's WordPiece vocabulary (token -> id): special tokens, words, punctuation, pieces.

    Every character is also a ``##`` piece, so any ASCII text tokenises without ``[UNK]``.
    """
    tokens = list(_SPECIAL_TOKENS)
    tokens += _WORDS.split()
    tokens += list(_ASCII_PUNCTUATION)
    tokens += list(_CHARACTERS)
    tokens += ["##" + c for c in _CHARACTERS]
    tokens += ["##" + s for s in _SUFFIXES.split()]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}


def _bert_tokenizer(vocab):
    """A BERT WordPiece ``tokenizers.Tokenizer`` (what ``BertTokenizerFast`` builds), version-independent."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.add_special_tokens(list(_SPECIAL_TOKENS))  # already in the vocabulary: same ids
    return tokenizer


def save_bert_tokenizer(path, vocab):
    """Write an uncased BERT WordPiece tokenizer for ``vocab`` (token -> id) to ``path``; return it.

    The files are written by hand, never by ``save_pretrained``: transformers 5
    ignores ``BertTokenizerFast(vocab_file=...)`` and would save the special
    tokens only. The result loads the same under transformers 4 and 5.
    """
    import json

    path = Path(path)
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError("vocab ids must be 0, 1, ..., len(vocab) - 1")
    missing = [t for t in _SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"vocab lacks the special tokens {missing}")
    tokenizer = _bert_tokenizer(vocab)
    tokenizer.save(str(path / "tokenizer.json"))
    in_order = sorted(vocab, key=vocab.__getitem__)
    (path / "vocab.txt").write_text("".join(token + "\n" for token in in_order), encoding="utf-8")
    special = {f"{name}_token": f"[{name.upper()}]" for name in ("unk", "sep", "pad", "cls", "mask")}
    (path / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    config = {
        "tokenizer_class": "BertTokenizer",  # transformers 4: BertTokenizerFast, from tokenizer.json
        "do_lower_case": True,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "model_max_length": 128,
        "clean_up_tokenization_spaces": False,
        **special,
    }
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return tokenizer


#: Texts whose tokenisation :func:`save_tiny_bert` checks after reloading.
_PROBES = (
    "GLCM contrast, texture heterogeneity, of the wavelet LLH sub-band",
    "62-year-old woman. Heterogeneously dense breasts (BI-RADS density C).",
)


def save_tiny_bert(path):
    """Save a 2-layer, 32-wide BERT (random weights, seed 0) and its tokenizer to ``path``; return it.

    The vocabulary covers the words of the feature descriptions and clinical
    sentences, so different texts embed differently. The tokenizer is reloaded
    with ``AutoTokenizer`` and checked: a mismatch raises RuntimeError rather
    than giving tests a tokenizer that maps every word to ``[UNK]``.
    """
    import torch
    import transformers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = tiny_bert_vocabulary()
    tokenizer = save_bert_tokenizer(path, vocab)

    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=vocab["[PAD]"],
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(path, safe_serialization=True)

    # Reload with this transformers' AutoTokenizer: the files must read back as written.
    reloaded = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    if reloaded.get_vocab() != vocab:
        raise RuntimeError(f"the tiny BERT tokenizer saved to {path} reloads with another vocabulary")
    for text in _PROBES:
        ids = reloaded(text)["input_ids"]
        if ids != tokenizer.encode(text).ids or reloaded.unk_token_id in ids:
            raise RuntimeError(f"the tiny BERT tokenizer saved to {path} does not reload as written: {text!r}")
    return path


def reference_inner_cv_choice(choice, X, y):
    """The inner-CV choice as it was before it "paid once" (issue 24), written out plainly.

    Every candidate of ``choice`` (an unfitted
    :class:`~sklearn_llmrad.models.choice.InnerCVChoiceClassifier`, binary 0/1 ``y``,
    ``X`` a DataFrame) is cloned and fitted on its own on each inner fold, and every
    candidate is refitted on all data: the reference of ``tests/test_choice_refit.py``
    and the "before" side of ``benchmarks/bench_choice.py``.

    Returns
    -------
    pick : str
    means : dict of str -> float
        Mean inner-fold AUC of each candidate and of their average.
    refitted : dict of str -> estimator
        Every candidate fitted on all of ``X``.
    """
    import numpy as np
    from sklearn.base import clone

    from .inner_cv import choose_candidate, stratified_folds
    from .metrics import rank_auc_score

    folds = stratified_folds(choice.cv, y, random_state=choice.random_state, purpose="the reference")
    names = [name for name, _ in choice.estimators]

    def score_fold(train, test):
        fitted = [clone(est).fit(X.iloc[train], y[train]) for _, est in choice.estimators]
        probas = [est.predict_proba(X.iloc[test])[:, 1] for est in fitted]
        scores = {name: rank_auc_score(y[test] == 1, p) for name, p in zip(names, probas, strict=True)}
        scores["average"] = rank_auc_score(y[test] == 1, np.mean(probas, axis=0))
        return scores

    pick, means = choose_candidate(folds, score_fold, [*names, "average"], decimals=None)
    return pick, means, {name: clone(est).fit(X, y) for name, est in choice.estimators}


def reference_fusion_forward(module, values, clinical=None, clinical_mask=None):
    """:class:`~sklearn_llmrad.models.fusion.FusionModule`'s maths written out plainly, token by token.

    The implementation before the factorised forward (issue 12): the reference
    the tests compare with, and the "old" side of ``benchmarks/bench_training.py``.
    """
    import torch

    values = values.float()
    if module.name_embedding is not None:
        names = module.name_embedding.weight
    else:
        names = module.name_projection(module.feature_embeddings)
    v = values.unsqueeze(-1)
    tokens = names.unsqueeze(0) + v * module.value_vector + module.value_mlp(v)
    groups = getattr(module, "token_groups", None)
    if groups is not None:  # feature_tokens="group": a token per group, written out member by member
        n_groups = int(groups.max()) + 1
        grouped = []
        for g in range(n_groups):
            members = (groups == g).nonzero().flatten()
            value_names = values[:, members].unsqueeze(-1) * names[members]
            grouped.append((tokens[:, members] + value_names).mean(dim=1))
        tokens = torch.stack(grouped, dim=1)
    tokens = module.token_dropout(tokens)
    keys, padding = module._keys(values, clinical, clinical_mask)
    if module.attention:
        attended, _ = module.cross_attention(
            module.attention_norm(tokens), keys, keys, key_padding_mask=padding, need_weights=False
        )
        tokens = tokens + attended
    else:
        present = torch.ones(keys.shape[:2])
        if padding is not None:
            present = (~padding).float()
        context = (keys * present.unsqueeze(-1)).sum(1) / present.sum(1, keepdim=True)
        tokens = tokens + context.unsqueeze(1)
    tokens = tokens + module.ffn(module.ffn_norm(tokens))
    tokens = module.final_norm(tokens)
    if module.attention:
        weights = torch.softmax(module.pool_score(tokens).squeeze(-1), dim=1)
    else:
        weights = torch.full(tokens.shape[:2], 1.0 / tokens.shape[1])
    embedding = torch.einsum("nk,nkh->nh", weights, tokens)
    if groups is not None:  # each member gets an equal share of its group's weight
        sizes = torch.bincount(groups).float()
        weights = weights[:, groups] / sizes[groups]
    return module.head(embedding) + module.linear(values), embedding, weights


class ReferenceFusionModule(FusionModule):
    """A :class:`~sklearn_llmrad.models.fusion.FusionModule` whose forward is :func:`reference_fusion_forward`."""

    def forward(self, values, clinical=None, clinical_mask=None):
        return reference_fusion_forward(self, values, clinical, clinical_mask)


# ---------------------------------------------------------------------------
# hostile model files: mutations of a genuine archive (tests/test_io_fuzz.py,
# benchmarks/fuzz_model_files.py)

#: Dotted names an attacker would put in a manifest.
HOSTILE_NAMES = tuple(
    "os.system builtins.eval builtins.exec subprocess.Popen numpy.memmap numpy.load torch.load shutil.rmtree "
    "sklearn_llmrad.models.cnn.TorchvisionCNN sklearn_llmrad.io.load skorch.callbacks.Checkpoint builtins.print "
    "torch.nn.Linear sklearn.pipeline.Pipeline".split()
)


def _hostile_value(rng, canary):
    """A value an attacker might put anywhere in a manifest; paths point into ``canary``."""
    path = str(Path(canary) / f"f{rng.randrange(100)}")
    choices = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.choice([0, -1, 1, 2**31, 2**63, 10**12, -(10**9)]),
        lambda: rng.choice([0.0, -1.5, 1e308]),
        lambda: rng.choice(["", "x", "auto", "cuda", "../../x", path, "~/.bashrc", "\x00", "a" * 5000]),
        lambda: [path] * rng.randrange(3),
        lambda: {"$type": "float", "value": rng.choice(["nan", "inf", "1e999", "x", 3])},
        lambda: {"$type": "ref", "name": rng.choice(HOSTILE_NAMES)},
        lambda: {
            "$type": "object",
            "class": rng.choice(HOSTILE_NAMES),
            "params": {"filename": path, "mode": rng.choice(["r", "w+", "c"]), "shape": [1], "weights_file": path},
        },
        lambda: {"$type": "tensor", "key": rng.choice(["missing", "state.module.linear.weight", 3, None])},
        lambda: {
            "$type": "ndarray",
            "dtype": rng.choice(["<U2", "<U100000000", "O", "<f8", "V8", "garbage", 5]),
            "shape": rng.choice([[2], [10**9], [-1], "x", [2, 2]]),
            "data": rng.choice([["a", "b"], [], [{"$type": "ref", "name": "os.system"}] * 2, "x"]),
        },
        lambda: {"$type": rng.choice(["tuple", "dict"]), "items": rng.choice([[1, 2], [[1]], "x", [[{}, 1]], None])},
        lambda: {
            "$type": "estimator",
            "node": rng.choice([{}, {"kind": "skops"}, None, {"kind": "skorch", "class": 1}]),
        },
        lambda: {"$type": rng.choice(["torch.dtype", "unknown", 7]), "name": rng.choice(["float32", "bogus", None])},
        lambda: _nested(rng.choice([40, 600, 900])),
        lambda: {"kind": rng.choice(["skops", "skorch", "pipeline", "choice", "passthrough", "x"]), "class": "x"},
    ]
    return rng.choice(choices)()


def _nested(depth):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def _json_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _json_paths(v, (*prefix, i))


def _mutate_manifest(manifest, rng, canary):
    import json

    paths = [p for p in _json_paths(manifest) if p]
    for _ in range(rng.randrange(1, 4)):
        path = rng.choice(paths)
        parent = manifest
        try:
            for key in path[:-1]:
                parent = parent[key]
            key = path[-1]
            op = rng.randrange(5)
            if op == 0 and isinstance(parent, dict):
                del parent[key]
            elif op == 1 and isinstance(parent, dict):
                parent[rng.choice(["compile", "compile__options", "cache_dir", "memory", "module__x", "x_"])] = (
                    _hostile_value(rng, canary)
                )
            elif op == 2:
                # a value from elsewhere in the manifest: well-formed, in the wrong place
                other = manifest
                for k in rng.choice(paths):
                    other = other[k]
                parent[key] = json.loads(json.dumps(other))
            else:
                parent[key] = _hostile_value(rng, canary)
        except (KeyError, IndexError, TypeError):
            continue
    return manifest


def mutate_model_file(data, rng, canary):
    """A hostile variant (bytes) of the model file ``data``, for fuzzing :func:`sklearn_llmrad.io.load`.

    Mutates the manifest (hostile classes, compile options, paths into the
    ``canary`` folder, huge sizes, deep nesting, malformed tensors) or the
    archive (truncation, flipped bytes, duplicate, missing, extra or traversal
    members, pickle weights). ``rng`` is a :class:`random.Random`.
    """
    import io
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        members = [(info, zin.read(info.filename)) for info in zin.infolist()]
    kind = rng.randrange(10)
    if kind == 0:
        return data[: rng.randrange(len(data))]
    if kind == 1:
        out = bytearray(data)
        for _ in range(rng.randrange(1, 20)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    names = [info.filename for info, _ in members]
    manifest = json.loads(dict((i.filename, d) for i, d in members)["manifest.json"])
    extra = []
    if kind <= 6:
        manifest = _mutate_manifest(manifest, rng, canary)
    elif kind == 7:
        target = rng.choice(names)
        junk = rng.choice(
            [
                b"\x80\x04\x95junk pickle",
                b"PK\x03\x04torch.save",
                (10**9).to_bytes(8, "little") + b'{"a":1}',
                (40).to_bytes(8, "little")
                + b'{"w":{"dtype":"F32","shape":[16777216,16777216],"data_offsets":[0,4]}}'
                + b"\x00" * 4,
                bytes(rng.randrange(256) for _ in range(64)),
            ]
        )
        members = [(i, junk if i.filename == target else d) for i, d in members]
    elif kind == 8:
        extra.append((rng.choice(["manifest.json", "../escape.json", "/abs.json", names[-1], "steps/9.pkl"]), b"{}"))
    else:
        members = [m for m in members if m[0].filename != rng.choice(names[1:] or names)]
    buffer = io.BytesIO()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        with zipfile.ZipFile(buffer, "w") as zout:
            for info, payload in members:
                if info.filename == "manifest.json":
                    payload = json.dumps(manifest).encode()
                zout.writestr(info.filename, payload)
            for name, payload in extra:
                zout.writestr(zipfile.ZipInfo(name), payload)
    return buffer.getvalue()


def genuine_model_files(folder, *, language_model):
    """The bytes of two small genuine model files, written to ``folder``, to mutate.

    An inner-CV choice of the fusion network and the prior-weighted linear path
    (choice, skops and skorch nodes), and a text encoder on the local
    ``language_model`` before a fusion network (a language-model reference).
    """
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import make_pipeline

    from .encoding import BioBERTEncoder
    from .io import save
    from .models import LLMRadiomicsClassifier
    from .pipelines import make_llmrad_pipeline

    folder = Path(folder)
    features = [
        "original_firstorder_Mean",
        "original_glcm_Contrast",
        "original_shape_Elongation",
        "wavelet-LLH_glcm_Idmn",
    ]
    rng = np.random.default_rng(0)
    y = np.r_[[0] * 10, [1] * 10]
    X = pd.DataFrame(rng.normal(size=(20, len(features))) + 0.7 * y[:, None], columns=features)
    X["age"] = rng.integers(40, 80, 20).astype(float)
    X["density"] = rng.choice(list("ABCD"), 20)
    X["history"] = "none"
    small = {"max_epochs": 1, "hidden_size": 8, "n_heads": 2}
    choice = make_llmrad_pipeline(k=3, encoder=None, device="cpu", random_state=0, classifier_params=small)[2:]
    encoded = make_pipeline(
        BioBERTEncoder(language_model=str(language_model), device="cpu"),
        LLMRadiomicsClassifier(**small, device="cpu", random_state=0),
    )
    return [
        save(choice.fit(X, y), folder / "choice.llmrad").read_bytes(),
        save(encoded.fit(X, y), folder / "encoded.llmrad").read_bytes(),
    ]
