def test_tiny_bert_loads(tiny_bert_dir):
    import transformers

    model = transformers.AutoModel.from_pretrained(tiny_bert_dir, local_files_only=True)
    tok = transformers.AutoTokenizer.from_pretrained(tiny_bert_dir, local_files_only=True)
    out = model(**tok(["gray level texture of the lesion"], return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == 32
