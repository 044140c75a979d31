"""The file formats evrt can read, in the order `open_file` tries them.

Each entry is a module with `NAME` (short format name), `detect(head: bytes) -> bool`
(content sniffing on the first `HEAD_BYTES` bytes, never the file name) and
`open_reader(path, **kw) -> Reader`. When several modules detect the same bytes (e.g. the
HDF5 layouts), they are tried in this order and a `FormatError` from `open_reader` passes
on to the next one.
"""

HEAD_BYTES = 4096

FORMATS: list[str] = [
    "evrt.sources.files.aedat4",
    "evrt.sources.files.aedat2",
    "evrt.sources.files.aedat3",
    "evrt.sources.files.evt2",
    "evrt.sources.files.evt3",
    "evrt.sources.files.dat",
    "evrt.sources.files.mvsec",
    "evrt.sources.files.dsec",
]
