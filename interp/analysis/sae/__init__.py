"""Sparse dictionaries (SAEs and transcoders) on any hook site: training, evaluation, splicing, feature
dashboards and features across checkpoints. The public names are re-exported by `interp.analysis`.

    config.py         SAEConfig: site, kind (relu, topk, batchtopk, jumprelu), size, training recipe
    dictionary.py     SparseDictionary: encoder, sparse activation, decoder (SAELens's tensor names)
    site_vectors.py   a site's activation as one vector per token
    activations.py    ActivationStream: the run's corpus through the model, a bounded shuffle buffer
    losses.py         per-kind training losses (AuxK, BatchTopK's threshold, JumpReLU's straight-through L0)
    training.py       train_dictionary: the loop, training checkpoints, exact resume (training_state.py)
    files.py          save/load in SAELens's layout (saelens_layout.py) plus interp.json
    splice.py         Splice: an intervention putting the dictionary's output in place of its site
    evaluation.py     explained variance, L0, dead/dense features, shrinkage, CE loss recovered
    features.py       per-feature statistics, top contexts and logit effects for dashboards
    matching.py       one-to-one matching of two dictionaries' features
    feature_timeline.py, token_features.py, series.py   features across checkpoints
    run_dictionaries.py  the dictionaries a run holds (for listings and reports)
"""
