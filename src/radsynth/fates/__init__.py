"""Image fates: which synthetic image goes on, decided in one place.

:mod:`.records` reads and writes the reviewers' decisions and the fates record
(``keep/images.csv``, ``keep/table_s1.csv``); :mod:`.keep` is the keep stage, the one function
that combines the screen and the reviewers' decisions (:func:`.keep.decide_fates`), which the
release and the report use too.
"""
