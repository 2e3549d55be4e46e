"""The stages layer: one module per ``workflow/rules/*.smk`` file, paths and config blocks in, files out.

=====================  =====================================  ==========================================
rule file              module                                 functions (one per rule)
=====================  =====================================  ==========================================
``generate.smk``       :mod:`hepmva.stages.generate`          ``generate_sample``
``features.smk``       :mod:`hepmva.stages.features`          ``build_feature_part``, ``merge_feature_parts``
                                                              (``build_features``: both, in one process)
``inputs.smk``         :mod:`hepmva.stages.inputs`            ``plot_inputs``
``train.smk``          :mod:`hepmva.stages.train`             ``train_folds``, ``train_fold``, ``score_fold_parts``
``evaluate.smk``       :mod:`hepmva.stages.evaluate`          ``evaluate_classifier``, ``neyman_pearson_limit``,
                                                              ``permutation_importance_study``, ``summarize``,
                                                              ``plot_roc_comparison``
``writeback.smk``      :mod:`hepmva.stages.writeback`         ``write_friend_trees``
``training_methods``   :mod:`hepmva.stages.training_methods`  ``run_training_methods_study``
``optimizer_study``    :mod:`hepmva.stages.optimizer_study`   ``run_optimizer_study``
``unsupervised.smk``   :mod:`hepmva.stages.unsupervised`      ``clustering_study``, ``decomposition_study``,
                                                              ``anomaly_study``, ``anomaly_comparison``,
                                                              ``summarize_unsupervised``
``apply.smk``          :mod:`hepmva.stages.apply`             ``write_bundles``, ``write_study_bundle``,
                                                              ``sum_weights_part``, ``merge_scale``,
                                                              ``apply_part``, ``merge_apply_parts``,
                                                              ``make_templates``, ``plot_sculpting``
                                                              (``apply_sample``: the parts in one process;
                                                              ``apply_files``, ``score_files`` for the CLI
                                                              and notebooks)
=====================  =====================================  ==========================================

Every workflow script calls exactly one of these functions. Array-in computation lives in the layers
below (``tests/test_layers.py`` enforces the direction); nothing in the package imports this layer.
"""
