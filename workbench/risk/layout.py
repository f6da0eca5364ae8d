"""Memory layout of the gate's numeric state, shared by the compiled kernels and the Python views.

All numbers the decision path reads or writes live in two arrays owned by the :class:`~workbench.risk.
exposure.Book`, so one compiled call can run the whole validator chain and commit without touching a
Python object (a Python float costs an allocation per arithmetic step; the arrays cost none):

* ``F`` (float64, ``rows x WIDTH``): a small record heap. Row 0 holds the book totals and the global
  config numbers, row 1 is the decision scratch (the validator values of the last decision), then one
  row per regime, bucket, strategy, group, quote and leg, allocated as they appear. Row links (a leg's
  quote, bucket, ...) are stored as floats: exact for any row count that fits in memory.
* ``R`` (int64): row 0 lists the strategy rows in the order their first leg appeared (the order the
  budget sums them in), row 1 the configured buckets' rows sorted by name (the policy table's order),
  row 2 the guaranteed strategies' rows sorted by id; rows 3.. are FIFO rings of approval timestamps
  (exchange ns) for the rate windows, ``[head, count, data...]``, row 3 the global window.

The numbers are plain module constants so numba freezes them into the compiled code.
"""

from __future__ import annotations

WIDTH = 32

# -- F row 0: book totals, then the config numbers every decision reads ---------------------------------
TOP = 0
T_GROSS_CUR, T_GROSS_POT, T_LONG, T_SHORT, T_PNL = 0, 1, 2, 3, 4
C_EQUITY, C_HARD_CAP, C_BUDGET_PCT, C_CLIP = 5, 6, 7, 8
C_MULT = 9  # 9..12: StormGuard limit multiplier indexed by StormState (HALT = 0)
C_RO_MASK = 13  # bit s set: StormState s is reduce-only
C_GWIN, C_GCAP, C_GWARN = 14, 15, 16  # global rate window: ns, soft cap, warn fraction
C_VORDER = 17  # the validator chain, 3 bits per validator code, first validator in the low bits
C_LAYOUT = 18  # id of the (validator order, regime names) pair that decodes a values row
C_REG = 19  # first regime row; regime i of the config is row F[0, C_REG] + i
T_PEAKED = 20  # strategies whose budget peak went positive so far (orders the peak report)

# -- F row 1: the values of the decision being made (copied out as bytes per decision) -----------------
VAL = 1

# -- per-kind row columns ---------------------------------------------------------------------------
R_TOL, R_FLAGS = 0, 1  # regime: tolerance %, bit 0 allow_derisk, bit 1 hard
A_CUR, A_POT, B_MAX = 0, 1, 2  # bucket: current, potential notional; max % (NaN: not configured)
# strategy; S_PEAKED: 1 + the order in which its peak first went positive (0: not yet)
S_POT, S_PNL, S_QUOTA, S_GUAR, S_RWIN, S_RCAP, S_RWARN, S_RING, S_PEAK, S_PEAKED = range(10)
G_POT, G_MAX = 0, 1  # group: potential notional; max % (NaN: not configured)
Q_BID, Q_ASK, Q_MARK, Q_FIRST, Q_LAST = range(5)  # quote; first/last leg of the instrument (-1: none)
(
    L_POS,
    L_AVG,
    L_REAL,
    L_OB,
    L_OS,
    L_CUR,
    L_POT,
    L_UPNL,
    L_LONG,
    L_MULT,
    L_QROW,
    L_BROW,
    L_SROW,
    L_GROW,
    L_NEXT,
) = range(15)
L_LIM = 15  # 15..19: max_order_qty, max_order_notional, max_instrument_notional, max_position_qty, band
L_IMULT, L_LOT = 20, 21  # the instrument's multiplier and lot in the *current* config

# -- R rows ------------------------------------------------------------------------------------------
USED, BUCKETS, GUARANTEED, GLOBAL_RING = 0, 1, 2, 3
RING_HEAD = 2  # ring data starts at column 2: [head, count, data...]

# -- the values row (F row 1): NaN marks a value the decision did not record -------------------------
V_LAYOUT = 0
V_STORM_MULT, V_REGIME, V_REDUCING = 1, 2, 3
V_BAND, V_BAND_LIMIT = 4, 5
V_MAX_QTY, V_MAX_NOTIONAL, V_NOTIONAL = 6, 7, 8
V_INST_POT, V_INST_LIMIT = 9, 10
V_WORST_POS, V_POS_LIMIT = 11, 12
V_RATE, V_RATE_CAP, V_GRATE, V_GRATE_CAP = 13, 14, 15, 16
V_GROSS_PCT, V_BUCKET_PCT, V_GROUP_PCT = 17, 18, 19
V_BUDGET_DELTA, V_BUDGET_AVAIL = 20, 21
# Not validator values: the totals the policy table saw (for the POLICY event's text), and what the
# commit did (for the order book and the budget log).
X_GROSS_CUR, X_GROSS_POT = 22, 23
X_Q, X_PX, X_BUDGET_DELTA, X_BUDGET_USED = 24, 25, 26, 27
NV = 28

# -- validator codes (3 bits each in C_VORDER) ---------------------------------------------------------
VC_ORDER_SIZE, VC_PRICE_BAND, VC_INST_NOTIONAL, VC_POSITION, VC_RATE, VC_EXPOSURE, VC_BUDGET = range(1, 8)

# -- the kernel's result word ---------------------------------------------------------------------------
# Bits 0..11 reject reasons and 12..13 warnings, one bit each (see validators.REASON_BITS); then
RJ_PRICE_BAND = 1 << 0
RJ_MAX_ORDER_QTY = 1 << 1
RJ_MAX_ORDER_NOTIONAL = 1 << 2
RJ_MAX_INSTRUMENT_NOTIONAL = 1 << 3
RJ_POSITION_LIMIT = 1 << 4
RJ_RATE_LIMIT = 1 << 5
RJ_POLICY_THROTTLE = 1 << 6
RJ_POLICY_DERISK = 1 << 7
RJ_GROSS_EXPOSURE_CAP = 1 << 8
RJ_BUCKET_LIMIT = 1 << 9
RJ_GROUP_LIMIT = 1 << 10
RJ_BUDGET_EXHAUSTED = 1 << 11
REJECTS = (1 << 12) - 1
W_SIZE_CLIPPED = 1 << 12
W_RATE_LIMIT_WARN = 1 << 13
MODE_SHIFT = 14  # 2 bits: PolicyMode
CODE_SHIFT = 16  # 3 bits: policy table row (CODES)
STATUS_SHIFT = 19  # 2 bits: why the chain did not run
ST_CHAIN, ST_REDUCE_ONLY, ST_STORM_REDUCE_ONLY, ST_NO_MARKET_DATA = 0, 1, 2, 3
CLIPPED = 1 << 21  # the size was clipped: the decision carries ``changes``
OUTCOME = (1 << 22) - 1  # the bits that determine verdict, reasons and mode
BUDGET_MOVED = 1 << 22  # the commit changed the strategy's potential: log it for the budget report
GROW = 1 << 23  # a rate ring is full: the owner must widen R before the next decision
# Set by the C entries (kernels.chain_c, count_rate_c) on every normal return: a numba cfunc that hits
# an exception returns 0 instead of raising, and 0 must not read as "approved, nothing to report".
RETURNED = 1 << 24

# Policy table rows (docs: workbench.risk.policy), indexed by the result's code bits, in the order of the table.
CODES = (
    "WITHIN",
    "HARD_CAP",
    "TOLERANCE",
    "BUCKET_MAX",
    "POTENTIAL",
    "BUCKET_POTENTIAL",
    "TOLERANCE_NO_DERISK",
)
