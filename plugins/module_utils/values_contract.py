# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which value paths a chart really reads, from its own files, so that a values key it ignores is refused.

helm renders a values file full of invented keys without a word. A path is *known* to a chart when its
values.yaml defines it (subcharts' under their alias, ``global`` shared), when a template reads it, or when
it lies inside a subtree that is free-form: consumed whole (``toYaml``, ``toJson``, ``tpl``, ``include``,
``range``, ``merge``...) or defaulting to ``{}``/null in values.yaml.

Templates are read as Go templates are written: ``.Values.a.b`` and ``$.Values.a.b``; ``index .Values "a"
"b"``; ``hasKey``/``get``/``dig``; variables bound to part of the values (``$ui := index .Values "ui"``, then
``$ui.ingress``); and the context of ``with`` blocks (``with .Values.a`` then ``.b``). What the analysis cannot
see (values reached through ``include`` of a define with a values context, computed key names) is what the
per-release accept list is for.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import io
import json
import os
import re
import tarfile
import traceback

try:
    import yaml
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

_ACTION = re.compile(r'\{\{-?(.*?)-?\}\}', re.S)
_KEY = r'[A-Za-z0-9_]+'
_CHAIN = r'(?:\.%s)+' % _KEY
# A reference: $.Values.x, .Values.x, $var.x, or a context-relative .x.
_BASE = r'(\$%s|\$)?(\.Values%s|\.Values\b|%s)' % (_KEY, _CHAIN, _CHAIN)
_REFERENCE = re.compile(r'(?<![\w)\]])' + _BASE)
_INDEX = re.compile(r'\bindex\s+(\$%s|\$)?(\.Values%s|\.Values\b|%s|\.(?=\s))?((?:\s+"[^"]+")+)' % (_KEY, _CHAIN, _CHAIN))
_KEYED = re.compile(r'\b(?:hasKey|get)\s+(\$%s|\$)?(\.Values%s|\.Values\b|%s|\.(?=\s))?\s+"([^"]+)"' % (_KEY, _CHAIN, _CHAIN))
_DIG = re.compile(r'\bdig((?:\s+"[^"]+")+)\s+\S+\s+' + _BASE)
# `.` alone: the current context, passed whole.
_DOT = re.compile(r'(?<![\w)\]$.])\.(?![\w.])')
_BIND = re.compile(r'(\$%s)\s*:?=\s*(.*)$' % _KEY, re.S)
_CONSUMERS = re.compile(r'\b(toYaml|toJson|toPrettyJson|toRawJson|tpl|include|template|merge|mergeOverwrite|deepCopy|'
                        r'range|keys|values|pick|omit)\b')
# Template objects that are not values.
_BUILTINS = ('Release', 'Chart', 'Capabilities', 'Template', 'Files', 'Values', 'Subcharts')


def _path(chain):
    return chain.strip('.').replace('.', '\0') if chain else ''


def _join(*parts):
    return '\0'.join(part for part in parts if part)


class TemplateReads(object):
    """Value paths (NUL-separated keys) one chart's templates read, and those they consume whole."""

    def __init__(self):
        self.reads = set()
        self.free = set()

    def _resolve(self, variable, chain, context, variables):
        """The values path a reference names, or None when it is not a values path."""
        chain = chain or ''
        if chain.startswith('.Values'):
            return _path(chain[len('.Values'):])
        if variable and variable != '$':
            base = variables.get(variable)
            return None if base is None else _join(base, _path(chain))
        if variable == '$':
            return None
        if context is None or chain.strip('.').split('.')[0] in _BUILTINS:
            return None
        return _join(context, _path(chain))

    def _references(self, text, context, variables):
        found = []
        for match in _REFERENCE.finditer(text):
            path = self._resolve(match.group(1), match.group(2), context, variables)
            if path is not None:
                found.append(path)
        for match in _INDEX.finditer(text):
            base = self._resolve(match.group(1), match.group(2), context, variables)
            if base is not None:
                found.append(_join(base, '\0'.join(re.findall(r'"([^"]+)"', match.group(3)))))
        for match in _KEYED.finditer(text):
            base = self._resolve(match.group(1), match.group(2), context, variables)
            if base is not None:
                found.append(_join(base, match.group(3)))
        for match in _DIG.finditer(text):
            base = self._resolve(match.group(2), match.group(3), context, variables)
            if base is not None:
                found.append(_join(base, '\0'.join(re.findall(r'"([^"]+)"', match.group(1)))))
        # The root of the values is no path of its own.
        return [path for path in found if path]

    def _context_of(self, pipeline, context, variables):
        """The values path a `with`/`range` pipeline makes the new `.`, or None."""
        pipeline = pipeline.strip()
        if pipeline == '.':
            return context
        references = self._references(pipeline, context, variables)
        return references[-1] if references else None

    def read(self, text):
        # Each open block: (kind, the context to restore at its end).
        blocks = []
        # The values path `.` stands for; None at the top of a template (`.` is the root object, not the values).
        context = None
        variables = {'$': ''}
        for match in _ACTION.finditer(text):
            action = match.group(1).strip()
            if action.startswith('/*'):
                continue
            keyword = action.split(None, 1)[0] if action else ''
            rest = action[len(keyword):]
            if keyword in ('define', 'block'):
                blocks.append((keyword, context))
                context = None
                continue
            if keyword == 'end':
                if blocks:
                    context = blocks.pop()[1]
                continue
            if keyword in ('with', 'range'):
                target = rest
                bind = _BIND.search(rest)
                if bind and keyword == 'range':
                    target = bind.group(2)
                references = self._references(target, context, variables)
                self.reads.update(references)
                if keyword == 'range':
                    self.free.update(references)
                blocks.append((keyword, context))
                context = None if keyword == 'range' else self._context_of(target, context, variables)
                if bind and keyword == 'with':
                    variables[bind.group(1)] = context
                continue
            if keyword == 'else' and blocks and blocks[-1][0] == 'with':
                context = blocks[-1][1]
            bind = _BIND.match(action)
            references = self._references(bind.group(2) if bind else action, context, variables)
            self.reads.update(references)
            if bind:
                values = self._references(bind.group(2), context, variables)
                variables[bind.group(1)] = values[0] if len(values) == 1 and re.match(
                    r'^\(?\s*(index\s+|\$?\.Values|\$%s)' % _KEY, bind.group(2).strip()) else None
            if _CONSUMERS.search(action):
                self.free.update(references)
                if context is not None and _DOT.search(action):
                    self.free.add(context)


def _value_paths(values, prefix=''):
    """Every path of a values mapping (mappings and leaves), NUL-separated, with its default."""
    found = {}
    for key, value in (values or {}).items():
        path = _join(prefix, str(key))
        found[path] = value
        if isinstance(value, dict):
            found.update(_value_paths(value, path))
    return found


class ChartFiles(object):
    """A chart's files from a folder or a packaged archive: Chart.yaml, values.yaml, schema, templates, subcharts."""

    def __init__(self, files):
        self.files = files

    @classmethod
    def from_folder(cls, folder):
        files = {}
        for root, dirs, names in os.walk(folder):
            dirs[:] = [d for d in dirs if d != '.git']
            for name in names:
                path = os.path.join(root, name)
                with open(path, 'rb') as handle:
                    files[os.path.relpath(path, folder).replace(os.sep, '/')] = handle.read()
        return cls(files)

    @classmethod
    def from_archive(cls, data):
        files = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode='r:*') as archive:
            for member in archive.getmembers():
                if member.isfile():
                    # Archives hold <chart name>/<file>.
                    files[member.name.split('/', 1)[1] if '/' in member.name else member.name] = \
                        archive.extractfile(member).read()
        return cls(files)

    def yaml(self, name):
        data = self.files.get(name)
        return yaml.safe_load(data) if data else None

    def subcharts(self):
        """(ChartFiles) of every chart under charts/, folders and archives, each once."""
        folders = {}
        for name, data in sorted(self.files.items()):
            if not name.startswith('charts/'):
                continue
            rest = name[len('charts/'):]
            if '/' not in rest and rest.endswith('.tgz'):
                yield ChartFiles.from_archive(data)
            elif '/' in rest:
                top, inner = rest.split('/', 1)
                folders.setdefault(top, {})[inner] = data
        for files in folders.values():
            if 'Chart.yaml' in files:
                yield ChartFiles(files)


class ChartModel(object):
    """The value paths a chart (with its subcharts) defines, reads and leaves free-form."""

    def __init__(self, files, prefix=''):
        self.chart = files.yaml('Chart.yaml') or {}
        self.defaults = {}
        self.reads = set()
        self.free = set()
        self.schemas = []
        self._add(files, prefix)

    def _add(self, files, prefix):
        chart = files.yaml('Chart.yaml') or {}
        values = files.yaml('values.yaml') or {}
        for path, default in _value_paths(values).items():
            self.defaults[self._under(prefix, path)] = default
            if default is None or default == {}:
                self.free.add(self._under(prefix, path))
        reads = TemplateReads()
        for name in sorted(files.files):
            if name.startswith('templates/'):
                reads.read(files.files[name].decode('utf-8', 'replace'))
        self.reads.update(self._under(prefix, path) for path in reads.reads)
        self.free.update(self._under(prefix, path) for path in reads.free)
        if 'values.schema.json' in files.files:
            self.schemas.append((prefix, json.loads(files.files['values.schema.json'].decode('utf-8'))))
        aliases = dict((d.get('name'), d.get('alias') or d.get('name')) for d in chart.get('dependencies') or [])
        for sub in files.subcharts():
            name = (sub.yaml('Chart.yaml') or {}).get('name')
            self._add(sub, _join(prefix, aliases.get(name, name)))

    @staticmethod
    def _under(prefix, path):
        # A subchart's global is the parent's global.
        return path if not prefix or path == 'global' or path.startswith('global\0') else _join(prefix, path)

    def known(self, path):
        if path in self.defaults or path in self.reads:
            return True
        parts = path.split('\0')
        return any('\0'.join(parts[:length]) in self.free for length in range(1, len(parts)))

    def suggestions(self, path):
        dotted = sorted(p.replace('\0', '.') for p in set(self.defaults) | self.reads)
        wanted = path.replace('\0', '.')
        same_but_case = [p for p in dotted if p.lower() == wanted.lower()]
        return same_but_case or difflib.get_close_matches(wanted, dotted, n=2, cutoff=0.8)


def leaves(values, prefix=''):
    found = {}
    for key, value in values.items():
        path = _join(prefix, str(key))
        if isinstance(value, dict) and value:
            found.update(leaves(value, path))
        else:
            found[path] = value
    return found


_BOOLEAN_WORDS = ('true', 'false', 'yes', 'no', 'on', 'off', '1', '0')


def shape(values):
    """`values` with every leaf replaced by a stand-in of its type: what the key check needs and no secret.
    Strings become '' unless they spell a boolean, which the check names."""
    if isinstance(values, dict):
        return dict((key, shape(value)) for key, value in values.items())
    if isinstance(values, bool) or values is None:
        return values
    if isinstance(values, (int, float)):
        return 0
    if isinstance(values, (list, tuple)):
        return []
    text = str(values)
    return text if text.lower() in _BOOLEAN_WORDS else ''


def check_values(model, values, accept=()):
    """Problems of `values` against the chart: each {path, problem, suggestions}. Paths are dotted."""
    accepted = [tuple(entry.split('.')) for entry in accept]
    problems = []
    for path, value in sorted(leaves(values).items()):
        parts = tuple(path.split('\0'))
        if any(parts[:len(entry)] == entry for entry in accepted):
            continue
        dotted = '.'.join(parts)
        if not model.known(path):
            problems.append({'path': dotted, 'problem': 'unknown', 'suggestions': model.suggestions(path)})
        elif isinstance(model.defaults.get(path), bool) and not isinstance(value, bool):
            shown = value if isinstance(value, str) and value.lower() in _BOOLEAN_WORDS else (
                'str' if isinstance(value, str) else type(value).__name__)
            problems.append({'path': dotted, 'problem': 'not_boolean', 'got': shown, 'suggestions': []})
    return problems


def schema_problems(model, values):
    """Messages of the chart's own values.schema.json (and its subcharts') for the coalesced values."""
    import jsonschema  # the caller checks HAS_JSONSCHEMA first

    found = []
    for prefix, schema in model.schemas:
        scoped = values
        for key in prefix.split('\0') if prefix else []:
            scoped = scoped.get(key) if isinstance(scoped, dict) else None
        if scoped is None:
            continue
        validator = jsonschema.validators.validator_for(schema)(schema)
        for error in sorted(validator.iter_errors(scoped), key=lambda e: list(e.absolute_path)):
            where = '.'.join([p for p in prefix.split('\0') if p] + [str(p) for p in error.absolute_path]) or '(top level)'
            found.append('%s: %s' % (where, error.message))
    return found


def coalesce(defaults, values):
    """values merged over defaults as helm does for mappings (null removes a default)."""
    if not isinstance(defaults, dict) or not isinstance(values, dict):
        return values
    merged = dict(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = coalesce(defaults.get(key), value)
    return merged


def format_problem(problem):
    if problem['problem'] == 'not_boolean':
        return ('%s is %s, but the chart\'s default is a boolean and templates take any non-empty string as true: '
                'give true or false unquoted' % (problem['path'], '"%s"' % problem['got'] if problem['got'] not in (
                    'str', 'int', 'float', 'list', 'dict') else 'a ' + problem['got']))
    text = '%s is not read by the chart' % problem['path']
    if problem['suggestions']:
        text += ' (did you mean %s?)' % ' or '.join(problem['suggestions'])
    return text
