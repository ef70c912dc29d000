"""Films: label-free classifiers of what a folder of radiographs holds, shared by ingest (real
films) and screening (generated films): the self-supervised transform detector (``selfsup``:
polarity, rotation, mirror) and the frontal/lateral view classifier (``view``). It sits below
both, so neither imports the other for them."""
