"""Inputs every code path sees, shared by the host tests and the CUDA simulator run.

Run as a script (``python kernel_cases.py OUT.npz``, with NUMBA_ENABLE_CUDASIM=1) it
computes every kernel on device arrays under the CUDA simulator and saves the results;
:func:`compute` without a device gives the njit results to compare with.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from kernels import normalise, resident_id, similarity, uscc
from kernels._buffers import StringBuffers, arrow_buffers

RIC_CASES = [
    "11010519491231002X",  # valid, X
    "11010519491231002x",  # valid, lower-case x
    "710000200002290016",  # valid: Taiwan, leap day
    "820000190001010013",  # valid: Macao, 1900-01-01
    None,
    "",
    "1101051949123100",  # short
    "1101051949123100201",  # long
    "身份证号码身份证号码身份证号码身份证",  # 18 code points, none a digit
    "11010519491231002身",  # 18 code points, 20 bytes
    "1101051949123100１",  # 17 code points, 19 bytes
    "110105194912310２X",  # 17 code points in 19 bytes, ending in X
    "1101051949X231002X",  # X not last
    "11010519491231002A",
    "99010519491231002X",  # no such province
    "16010519491231002X",
    "110105189912310025",  # before 1900
    "110105190002290022",  # 1900 was not a leap year
    "110105200013010025",  # month 13
    "110105200001000025",  # day 0
    "110105194912310021",  # wrong check
    # Normalised before validation:
    " 11010519491231002X ",
    "\t11010519491231002x\r\n",
    "\u300011010519491231002X\u00a0",  # ideographic and no-break space
    "\u2003\u2028\u008511010519491231002X\u205f\u1680\u2029\u202f",
    "１１０１０５１９４９１２３１００２Ｘ",  # full-width
    "１１０１０５１９４９１２３１００２ｘ",
    "１１０１０５１９４９１２３１００２Ａ",  # a full-width letter other than X stays
    "110105491231002",  # legacy 15 digits: 11010519491231002X
    "\u3000１１０１０５４９１２３１００２ ",  # legacy, full-width and padded
    "110105491331002",  # legacy, month 13
    "990105491231002",  # legacy, no such province
    "11010549123100X",  # 15 characters, not all digits: not legacy
    "110105 19491231002X",  # inner whitespace stays
    "1101051949 231002X",  # 18 characters with a space inside
    "\x1c11010519491231002X",  # U+001C is not White_Space
    " \u3000\t",  # nothing but whitespace
    "11010519491231002\u200b",  # U+200B (zero width space) is not White_Space
]
USCC_CASES = [
    "91110000600037341L",
    "91350100M000100Y43",
    None,
    "",
    "9111000060003734",
    "91110000600037341LL",
    "91110000600037341l",  # lower case reads as upper case
    "I1110000600037341L",
    "9111000060003734１",  # 17 code points, 19 bytes
    "9111A000600037341L",  # division code not digits
    "91110000600037341M",  # wrong check
    # Normalised before validation:
    "\u3000 91350100m000100y43\u00a0\t",
    "９１３５０１００Ｍ０００１００ｙ４３",  # full-width, lower and upper
    "91350100M00 100Y43",  # inner whitespace stays
    "\u2028\u2029",
    "91350100M000100Y43＃",  # other full-width characters stay
]
NAME_PAIRS = [
    ("张伟", "张玮"),
    ("王芳", "王芳"),
    ("欧阳娜娜", "欧阳娜"),
    ("李", "李"),
    ("", ""),
    ("", "刘洋"),
    (None, "刘洋"),
    ("martha", "marhta"),
    ("dixon", "dicksonx"),
    ("jellyfish", "smellyfish"),
    ("crate", "trace"),
    ("司马懿", None),
    ("欧" * 200, "欧阳娜娜"),  # longer than the kernels take: null
    ("张伟", "张" + "伟" * 128),
]


def _columns() -> dict[str, StringBuffers]:
    names_a = pa.array([None, *(a for a, _ in NAME_PAIRS)]).slice(1)
    names_b = pa.array([b for _, b in NAME_PAIRS], type=pa.large_string())
    return {
        # Sliced, so row 0 is not the buffers' first.
        "ric": arrow_buffers(pa.array(["0", *RIC_CASES]).slice(1)),
        "uscc": arrow_buffers(pa.array(USCC_CASES, type=pa.large_string())),
        "names_a": arrow_buffers(names_a),
        "names_b": arrow_buffers(names_b),
    }


def _host(array: np.ndarray) -> np.ndarray:
    return np.asarray(array.copy_to_host() if hasattr(array, "copy_to_host") else array)


def _normalised(buffers: StringBuffers, resident: bool) -> tuple[np.ndarray, ...]:
    """Both normalising kernels; the offsets between them summed on the host (cupy does it
    on a GPU, and the simulator has no cupy)."""
    sizes, valid = normalise.byte_lengths(buffers, resident)
    offsets = np.concatenate(([0], np.cumsum(_host(sizes)))).astype(np.int32)
    return normalise.write_chars(buffers, resident, offsets), offsets, valid


def compute(device: Callable[[StringBuffers], StringBuffers] | None = None) -> dict:
    """Every chunk-level kernel over the cases; on the device when ``device`` moves buffers."""
    columns = _columns()
    if device is not None:
        columns = {name: device(buffers) for name, buffers in columns.items()}
    outputs = {
        "ric": resident_id.validate_and_pack(columns["ric"]),
        "ric_codes": (resident_id.validate(columns["ric"]),),
        "ric_fields": resident_id.fields(columns["ric"]),
        "ric_normalised": _normalised(columns["ric"], True),
        "uscc": uscc.validate_and_pack(columns["uscc"]),
        "uscc_normalised": _normalised(columns["uscc"], False),
        "jaro_winkler": (similarity.similarities(columns["names_a"], columns["names_b"]),),
        "levenshtein": (similarity.distances(columns["names_a"], columns["names_b"]),),
    }
    return {
        f"{name}.{k}": _host(a)
        for name, arrays in outputs.items()
        for k, a in enumerate(arrays)
    }


def main(path: str) -> None:
    from numba import cuda

    def device(buffers: StringBuffers) -> StringBuffers:
        return StringBuffers(
            *(cuda.to_device(array) for array in buffers.args[:3]), buffers.mask_offset
        )

    np.savez(path, **compute(device))


if __name__ == "__main__":
    main(sys.argv[1])
