"""PRIME (seed 1): SNNs whose random "device" weights stay frozen while a top-k mask is learned.

layers.py (pruned layers, STE), classifier.py (reference topology + weight-trained baseline),
data.py (digits_saccades spike-tensor cache), nmnist.py (N-MNIST .bin reader/writer),
infer.py (shipped masks, confidence early stop), train.py (`evrt train/eval prime`),
node.py (the `prime` graph node), inpainting.py (pruned spiking autoencoder + metrics).
"""
