#!/usr/bin/env python3
"""Writes the .npy test files of this directory byte for byte as NumPy does
(format 1.0/2.0, header padded to 64 bytes), without needing NumPy. The files
are committed; run this only to change them."""
import struct


def npy(path, descr, shape, data, fortran=False, major=1):
    if len(shape) == 1:
        shp = '(%d,)' % shape[0]
    else:
        shp = '(' + ', '.join(str(d) for d in shape) + ')'
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, 'True' if fortran else 'False', shp)
    pre = 10 if major == 1 else 12
    h += ' ' * ((64 - (pre + len(h) + 1) % 64) % 64) + '\n'
    size = struct.pack('<H', len(h)) if major == 1 else struct.pack('<I', len(h))
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY' + bytes([major, 0]) + size + h.encode('latin1') + data)


npy('x.npy', '<f4', (2, 3), struct.pack('<6f', 1, 2, 3, 4, 5, 6))
npy('x_f64_v2.npy', '<f8', (2, 3), struct.pack('<6d', 0.5, 1, 1.5, 2, 2.5, 3), major=2)
npy('b.npy', '<f4', (3,), struct.pack('<3f', 10, 20, 30))
npy('n.npy', '<i4', (4,), struct.pack('<4i', 1, 2, 3, -4))
npy('m.npy', '|b1', (4,), bytes([1, 0, 1, 1]))
npy('m_u1.npy', '|u1', (4,), bytes([0, 1, 1, 0]))
npy('x_fortran.npy', '<f4', (2, 3), struct.pack('<6f', 1, 4, 2, 5, 3, 6), fortran=True)
npy('x_3x2.npy', '<f4', (3, 2), struct.pack('<6f', 1, 2, 3, 4, 5, 6))
npy('n_f32.npy', '<f4', (4,), struct.pack('<4f', 1, 2, 3, 4))
with open('x.npy', 'rb') as f:
    whole = f.read()
with open('x_truncated.npy', 'wb') as f:
    f.write(whole[:-5])
