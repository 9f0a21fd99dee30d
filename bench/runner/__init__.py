# SPDX-License-Identifier: MIT
# bench runner modules (see run.py)
