"""A BK-tree over words under the Levenshtein distance: the index the CRNN paper uses for lexicon search.

Child ``k`` of a node holds the words at distance ``k`` from it, so by the triangle inequality a
query within ``d`` of a word at distance ``x`` from the node can only lie under children ``x - d .. x + d``.
The tree is built in bulk (all words of a level against their subtree's root in one rapidfuzz call),
which gives the same tree as inserting the words one by one in order, and stored as flat arrays;
queries walk it level by level for a whole batch of queries at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein


def _distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    if not len(first):
        return np.zeros(0, dtype=np.int64)
    return process.cpdist(first, second, scorer=Levenshtein.distance, dtype=np.int32, workers=1).astype(np.int64)


class BKTree:
    """Build once (about half a second for 100,000 words); ``within`` finds every word within a distance."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = np.empty(len(words), dtype=object)
        self.words[:] = list(words)
        count = len(words)
        members = np.arange(1, count)
        root_of = np.zeros(max(count - 1, 0), dtype=np.int64)
        parents, keys, children = [], [], []
        while members.size:
            distance = _distances(self.words[members], self.words[root_of])
            order = np.lexsort((members, distance, root_of))
            members, root_of, distance = members[order], root_of[order], distance[order]
            # The first (in word order) member at each distance from a root becomes that child; the rest
            # of its group continue below it, exactly as one-by-one insertion in word order would place them.
            heads = np.ones(members.size, dtype=bool)
            heads[1:] = (root_of[1:] != root_of[:-1]) | (distance[1:] != distance[:-1])
            parents.append(root_of[heads])
            keys.append(distance[heads])
            children.append(members[heads])
            group = np.cumsum(heads) - 1
            root_of = members[heads][group][~heads]
            members = members[~heads]
        parent = np.concatenate(parents) if parents else np.zeros(0, dtype=np.int64)
        order = np.lexsort((np.concatenate(keys) if keys else parent, parent))
        self._child = np.concatenate(children)[order] if children else parent
        self._key = np.concatenate(keys)[order] if keys else parent
        self._first_child = np.searchsorted(parent[order], np.arange(count + 1))

    def __len__(self) -> int:
        return len(self.words)

    def within(self, queries: Sequence[str], max_distance: int) -> list[Neighbours]:
        """For each query, the words at Levenshtein distance <= ``max_distance``: (indices, distances), by index."""
        if not len(self.words) or not len(queries):
            return [Neighbours(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)) for _ in queries]
        hit_queries, hit_words, hit_distances = [], [], []
        query_words = np.empty(len(queries), dtype=object)
        query_words[:] = list(queries)
        query = np.arange(len(queries))
        node = np.zeros(len(queries), dtype=np.int64)
        while query.size:
            distance = _distances(query_words[query], self.words[node])
            hit = distance <= max_distance
            hit_queries.append(query[hit])
            hit_words.append(node[hit])
            hit_distances.append(distance[hit])
            start = self._first_child[node]
            count = self._first_child[node + 1] - start
            total = int(count.sum())
            if not total:
                break
            position = np.repeat(start - np.cumsum(count) + count, count) + np.arange(total)
            close = np.abs(self._key[position] - np.repeat(distance, count)) <= max_distance
            query = np.repeat(query, count)[close]
            node = self._child[position[close]]
        queries_hit, words_hit = np.concatenate(hit_queries), np.concatenate(hit_words)
        order = np.lexsort((words_hit, queries_hit))
        bounds = np.searchsorted(queries_hit[order], np.arange(len(queries) + 1))[1:-1]
        words_found = np.split(words_hit[order], bounds)
        distances_found = np.split(np.concatenate(hit_distances)[order], bounds)
        return [Neighbours(*found) for found in zip(words_found, distances_found, strict=True)]


class Neighbours(NamedTuple):
    """The words near one query: their indices in the lexicon, ascending, and their edit distances."""

    words: np.ndarray
    distances: np.ndarray
