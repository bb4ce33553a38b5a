"""Supraventricular-beat model: written by `python -m evaluation.train_ecg_s`; do not edit by hand.

Logistic regression on adapters.ecg.supraventricular.FEATURES, fitted on MIT-BIH DS1 development
records 101 106 108 112 115 118 122 201 203 207 209 220 (C=0.1, classes balanced, records weighted alike).
"""

MEAN = [0.00982311, -0.0101252, 0.0018905, -0.0180579, 0.0199484, -0.00793261, 0.0366731, 0.987099, 0.943835, 0.000832444, -0.0160851, 0.896259, 0.114301]
SCALE = [0.113193, 0.112048, 0.113955, 0.132178, 0.15477, 0.087996, 1.96199, 0.0627961, 0.128239, 0.0451567, 0.146797, 0.215953, 0.263607]
COEF = [-1.2893, -0.38915, -0.473658, 0.212383, -0.589887, -0.521555, 0.394071, 1.84851, 0.682393, 0.102208, 0.237853, -0.400503, -0.0156206]
INTERCEPT = -1.64583
CLIP = 5.0
THRESHOLD = 0.8
