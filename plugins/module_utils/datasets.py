# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of Exaflow/MIP data-model folders, as the engine's worker reads them.

The Exaflow worker (``exaflow/worker/utils/duck_db_csv_loader.py`` in madgik/exaflow) loads its
``DATA_PATH`` and every direct sub-folder that holds a ``CDEsMetadata.json``: it silently skips a
folder whose metadata lacks ``code``/``version`` or that has no ``*.csv``, refuses a dataset code
that appears in two CSV files, and types each CSV column from the metadata's ``sql_type``.
The metadata rules (``dataset`` CDE, enumerations for categorical CDEs, identifier codes,
min < max, longitudinal ``subjectid``/``visitid``) are those of madgik/mipdb, which MIP uses to
import the same folders. Everything here only reads files; every finding names the file, the
line (and column) and the fix, so that an operator can act on it without reading code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import difflib
import json
import json.decoder
import json.scanner
import os
import stat

METADATA_FILE = 'CDEsMetadata.json'
SQL_TYPES = ('int', 'real', 'text')
# The engine lets DuckDB sniff the delimiter; these are the ones seen in MIP data deliveries.
DELIMITERS = (',', ';', '\t', '|')
ACL_XATTR = 'system.posix_acl_access'
# Exaflow's worker image runs as appuser, UID and GID 10001.
ENGINE_UID = 10001
ENGINE_GID = 10001


def issue(path, message, fix, line=None, column=None):
    """One finding. ``line``/``column`` are 1-based; ``column`` may also name a CSV column."""
    return dict(file=path, line=line, column=column, message=message, fix=fix)


def format_issue(item):
    where = item['file']
    if item.get('line') is not None:
        where += ':%s' % item['line']
        if item.get('column') is not None:
            where += ':%s' % item['column']
    return '%s: %s Fix: %s' % (where, item['message'], item['fix'])


# --- CDEsMetadata.json ---------------------------------------------------------------------------

def parse_json_with_positions(text):
    """Decode JSON and remember where each object starts.

    Returns ``(document, positions)`` where ``positions`` maps ``id(obj)`` of every decoded dict to
    its ``(line, column)``, so that a finding about a CDE can point at the line that declares it.
    The pure-Python scanner is used because the C scanner does not call back for objects.
    Raises ``ValueError`` (``json.JSONDecodeError``) with ``lineno``/``colno`` on bad JSON.
    """
    offsets = {}
    decoder = json.JSONDecoder()

    def parse_object(s_and_end, *args, **kwargs):
        obj, end = json.decoder.JSONObject(s_and_end, *args, **kwargs)
        offsets[id(obj)] = s_and_end[1] - 1
        return obj, end

    decoder.parse_object = parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    document = decoder.decode(text)
    line_starts = [0]
    for index, char in enumerate(text):
        if char == '\n':
            line_starts.append(index + 1)
    positions = {}
    for key, offset in offsets.items():
        line = _bisect_right(line_starts, offset)
        positions[key] = (line, offset - line_starts[line - 1] + 1)
    return document, positions


def _bisect_right(values, target):
    low, high = 0, len(values)
    while low < high:
        middle = (low + high) // 2
        if target < values[middle]:
            high = middle
        else:
            low = middle + 1
    return low


class MetadataChecker:
    """Validates one parsed CDEsMetadata.json and collects its CDEs by code."""

    def __init__(self, path, positions):
        self.path = path
        self.positions = positions
        self.issues = []
        self.cdes = {}

    def _at(self, obj):
        return self.positions.get(id(obj), (None, None))

    def problem(self, obj, pointer, message, fix):
        line, column = self._at(obj)
        self.issues.append(issue(self.path, '%s (at %s)' % (message, pointer or '/'), fix, line, column))

    def check(self, document):
        if not isinstance(document, dict):
            self.issues.append(issue(self.path, 'The top level is not a JSON object.',
                                     'Make the file one object with "code", "version", "variables" and "groups".', 1, 1))
            return
        for key in ('code', 'version'):
            value = document.get(key)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value).strip() == '':
                self.problem(document, '', 'Key "%s" is missing or empty; the engine skips this data model without a word.' % key,
                             'Add "%s": "<value>" at the top level (the engine names its tables "<code>:<version>").' % key)
        if 'label' in document and not isinstance(document['label'], str):
            self.problem(document, '/label', '"label" is not a string.', 'Write the label as a JSON string.')
        if 'longitudinal' in document and not isinstance(document['longitudinal'], bool):
            self.problem(document, '/longitudinal', '"longitudinal" is not true or false.', 'Use a JSON boolean (no quotes).')
        self._walk(document, '')
        self._check_special_cdes(document)

    def _walk(self, node, pointer):
        variables = node.get('variables', [])
        groups = node.get('groups', [])
        if not isinstance(variables, list):
            self.problem(node, pointer + '/variables', '"variables" is not a list.', 'Make "variables" a JSON array of CDE objects.')
            variables = []
        if not isinstance(groups, list):
            self.problem(node, pointer + '/groups', '"groups" is not a list.', 'Make "groups" a JSON array of group objects.')
            groups = []
        for index, variable in enumerate(variables):
            self._check_variable(variable, '%s/variables/%d' % (pointer, index), node)
        for index, group in enumerate(groups):
            group_pointer = '%s/groups/%d' % (pointer, index)
            if not isinstance(group, dict):
                self.problem(node, group_pointer, 'A group is not a JSON object.', 'Make each group an object with "code", "variables" and/or "groups".')
                continue
            if not isinstance(group.get('code'), str) or not group.get('code'):
                self.problem(group, group_pointer + '/code', 'A group has no "code".', 'Give the group a "code" string.')
            self._walk(group, group_pointer)

    def _check_variable(self, variable, pointer, parent):
        if not isinstance(variable, dict):
            self.problem(parent, pointer, 'A CDE is not a JSON object.', 'Make each entry of "variables" an object.')
            return
        code = variable.get('code')
        if not isinstance(code, str) or not code.isidentifier():
            self.problem(variable, pointer + '/code', 'CDE code %s is missing or not an identifier (letters, digits, "_", not starting with a digit).'
                         % json.dumps(code), 'Rename the CDE code, e.g. "%s".' % _identifier_hint(code))
            return
        missing = [key for key in ('label', 'sql_type', 'isCategorical') if key not in variable]
        if missing:
            self.problem(variable, pointer, 'CDE "%s" lacks %s.' % (code, ', '.join('"%s"' % key for key in missing)),
                         'Add the missing keys to the CDE "%s".' % code)
        sql_type = variable.get('sql_type', 'text')
        if sql_type not in SQL_TYPES:
            self.problem(variable, pointer + '/sql_type', 'CDE "%s" has sql_type %s.' % (code, json.dumps(sql_type)),
                         'Use one of %s.' % ', '.join('"%s"' % name for name in SQL_TYPES))
            sql_type = 'text'
        categorical = variable.get('isCategorical', False)
        if not isinstance(categorical, bool):
            self.problem(variable, pointer + '/isCategorical', 'CDE "%s" has a non-boolean isCategorical.' % code,
                         'Use true or false without quotes.')
            categorical = False
        enumerations = self._enumerations(variable, pointer, code, categorical)
        minimum, maximum = self._bounds(variable, pointer, code, sql_type)
        if code in self.cdes:
            self.problem(variable, pointer + '/code', 'CDE code "%s" is declared twice (first at %s).' % (code, self.cdes[code]['pointer']),
                         'Keep one declaration of "%s".' % code)
            return
        self.cdes[code] = dict(sql_type=sql_type, categorical=categorical, enumerations=enumerations,
                               min=minimum, max=maximum, pointer=pointer, obj=variable)

    def _enumerations(self, variable, pointer, code, categorical):
        enumerations = variable.get('enumerations')
        if enumerations is None:
            if categorical:
                self.problem(variable, pointer, 'Categorical CDE "%s" has no "enumerations".' % code,
                             'Add "enumerations": [{"code": ..., "label": ...}] or set "isCategorical": false.')
            return None
        if not isinstance(enumerations, list):
            self.problem(variable, pointer + '/enumerations', 'Enumerations of CDE "%s" are not a list.' % code,
                         'Write "enumerations" as a JSON array of {"code", "label"} objects.')
            return None
        codes = []
        for index, enumeration in enumerate(enumerations):
            if not isinstance(enumeration, dict) or not isinstance(enumeration.get('code'), str) or 'label' not in enumeration:
                self.problem(enumeration if isinstance(enumeration, dict) else variable, '%s/enumerations/%d' % (pointer, index),
                             'Enumeration %d of CDE "%s" is not {"code": "<string>", "label": ...}.' % (index, code),
                             'Give every enumeration a string "code" and a "label".')
                continue
            if enumeration['code'] in codes:
                self.problem(enumeration, '%s/enumerations/%d' % (pointer, index),
                             'Enumeration code "%s" of CDE "%s" is repeated.' % (enumeration['code'], code), 'Remove the duplicate.')
            codes.append(enumeration['code'])
        return set(codes)

    def _bounds(self, variable, pointer, code, sql_type):
        bounds = []
        for key in ('minValue', 'maxValue'):
            value = variable.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                self.problem(variable, pointer + '/' + key, '%s of CDE "%s" is not a number.' % (key, code), 'Write it as a JSON number.')
                value = None
            if value is not None and sql_type == 'text':
                self.problem(variable, pointer + '/' + key, '%s is set on the text CDE "%s".' % (key, code),
                             'Remove it, or give the CDE sql_type "int" or "real".')
                value = None
            bounds.append(value)
        if bounds[0] is not None and bounds[1] is not None and bounds[0] >= bounds[1]:
            self.problem(variable, pointer, 'CDE "%s" has minValue %s >= maxValue %s.' % (code, bounds[0], bounds[1]),
                         'Make minValue smaller than maxValue.')
        return bounds[0], bounds[1]

    def _check_special_cdes(self, document):
        dataset = self.cdes.get('dataset')
        if dataset is None:
            self.problem(document, '/variables', 'There is no "dataset" CDE.',
                         'Declare a categorical text CDE "dataset" whose enumerations are the dataset codes used in the CSV files.')
        elif not dataset['categorical'] or dataset['sql_type'] != 'text':
            self.problem(dataset['obj'], dataset['pointer'], 'CDE "dataset" must be categorical with sql_type "text".',
                         'Set "isCategorical": true and "sql_type": "text" on "dataset".')
        if document.get('longitudinal') is True:
            for code in ('subjectid', 'visitid'):
                if code not in self.cdes:
                    self.problem(document, '/variables', 'The longitudinal data model has no "%s" CDE.' % code,
                                 'Declare "%s" or set "longitudinal": false.' % code)
            visit = self.cdes.get('visitid')
            if visit is not None and (not visit['categorical'] or visit['sql_type'] != 'text' or not visit['enumerations']):
                self.problem(visit['obj'], visit['pointer'], 'CDE "visitid" must be categorical text with enumerations.',
                             'Set "isCategorical": true, "sql_type": "text" and list the visits in "enumerations".')


def _identifier_hint(code):
    text = ''.join(char if char.isalnum() or char == '_' else '_' for char in str(code or 'cde')).lower()
    return text if text[:1].isalpha() or text[:1] == '_' else '_' + text


def read_metadata(path, display):
    """Returns ``(document, cdes, issues)``; ``cdes`` is empty when the file cannot be used."""
    try:
        with open(path, 'rb') as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        return None, {}, [issue(display, 'Cannot read the file: %s.' % exc.strerror, 'Check that the file exists and is readable.')]
    try:
        text = raw.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b'\n') + 1
        return None, {}, [issue(display, 'The file is not UTF-8 (byte %d).' % exc.start, 'Save it as UTF-8.', line)]
    try:
        document, positions = parse_json_with_positions(text)
    except ValueError as exc:
        return None, {}, [issue(display, 'Invalid JSON: %s.' % getattr(exc, 'msg', exc),
                                'Correct the JSON syntax at this position (a validator such as "python3 -m json.tool" shows it too).',
                                getattr(exc, 'lineno', None), getattr(exc, 'colno', None))]
    checker = MetadataChecker(display, positions)
    checker.check(document)
    return document, checker.cdes, checker.issues


# --- CSV files -----------------------------------------------------------------------------------

def sniff_delimiter(header_line):
    """The delimiter that gives a header with a ``dataset`` column, else the one with most fields."""
    best, best_count = ',', 1
    for delimiter in DELIMITERS:
        fields = next(csv.reader([header_line], delimiter=delimiter))
        if 'dataset' in [field.strip() for field in fields]:
            return delimiter
        if len(fields) > best_count:
            best, best_count = delimiter, len(fields)
    return best


class CsvChecker:
    """Reads one CSV of a data model: header against the CDEs, then every row."""

    def __init__(self, display, cdes, check_values=True, max_issues=20):
        self.display = display
        self.cdes = cdes
        self.check_values = check_values
        self.max_issues = max_issues
        self.issues = []
        self.suppressed = 0
        self.rows = 0
        self.datasets = {}

    def problem(self, message, fix, line=None, column=None):
        if len(self.issues) < self.max_issues:
            self.issues.append(issue(self.display, message, fix, line, column))
        else:
            self.suppressed += 1

    def check(self, handle):
        header_line = handle.readline()
        if not header_line.strip():
            self.problem('The file is empty or starts with a blank line.', 'Put the header (dataset,<CDE codes>...) on line 1.', 1)
            return self.summary(None, [])
        delimiter = sniff_delimiter(header_line)
        header = next(csv.reader([header_line], delimiter=delimiter))
        columns = self._check_header(header)
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        line = 1
        try:
            for row in reader:
                start = line + 1
                line = reader.line_num + 1
                if not row:
                    continue
                self._check_row(row, start, header, columns)
        except csv.Error as exc:
            self.problem('The CSV cannot be parsed: %s.' % exc, 'Close the quoted field or remove the stray quote.', reader.line_num + 1)
        if self.rows == 0:
            self.problem('The file has a header but no data rows.', 'Add rows or remove the file.', 1)
        return self.summary(delimiter, header)

    def _check_header(self, header):
        columns = {}
        for index, name in enumerate(header):
            number = index + 1
            if name in columns:
                self.problem('Column "%s" appears twice (columns %d and %d).' % (name, columns[name] + 1, number),
                             'Keep one column of that name.', 1, number)
                continue
            columns[name] = index
            if name in self.cdes:
                continue
            if name.strip() in self.cdes:
                fix = 'Remove the spaces around "%s" in the header.' % name.strip()
            else:
                close = difflib.get_close_matches(name, list(self.cdes), n=1)
                fix = ('Declare a CDE "%s" in %s or rename/remove the column%s.'
                       % (name, METADATA_FILE, ' (did you mean "%s"?)' % close[0] if close else ''))
            self.problem('Column "%s" is not a CDE code declared in %s.' % (name, METADATA_FILE), fix, 1, number)
        if 'dataset' not in columns:
            self.problem('The header has no "dataset" column.',
                         'Add a "dataset" column holding, on every row, a dataset code declared in the "dataset" CDE.', 1)
        return columns

    def _check_row(self, row, line, header, columns):
        self.rows += 1
        if len(row) != len(header):
            self.problem('Row has %d fields, the header has %d.' % (len(row), len(header)),
                         'Give every row one field per header column (quote fields that contain the delimiter).', line)
            return
        if 'dataset' in columns:
            self._check_dataset_value(row[columns['dataset']].strip(), line, columns['dataset'] + 1)
        if not self.check_values:
            return
        for name, index in columns.items():
            cde = self.cdes.get(name)
            if cde is not None and name != 'dataset':
                self._check_value(row[index], cde, name, line, index + 1)

    def _check_dataset_value(self, value, line, number):
        if not value:
            self.problem('The "dataset" field is empty.', 'Put the dataset code on every row.', line, number)
            return
        declared = (self.cdes.get('dataset') or {}).get('enumerations')
        if declared is not None and value not in declared:
            self.problem('Dataset "%s" is not an enumeration of the "dataset" CDE.' % value,
                         'Add {"code": "%s", "label": ...} to the enumerations of "dataset" in %s, or correct the value.'
                         % (value, METADATA_FILE), line, number)
        self.datasets[value] = self.datasets.get(value, 0) + 1

    def _check_value(self, value, cde, name, line, number):
        if value.strip() == '':
            return
        if cde['categorical']:
            if cde['enumerations'] is not None and value not in cde['enumerations']:
                self.problem('Value "%s" of column "%s" is not one of its enumerations.' % (value, name),
                             'Use a declared enumeration code or add "%s" to the enumerations of "%s".' % (value, name), line, number)
            return
        if cde['sql_type'] == 'text':
            return
        try:
            number_value = int(value) if cde['sql_type'] == 'int' else float(value)
        except ValueError:
            self.problem('Value "%s" of column "%s" is not %s.' % (value, name, 'an integer' if cde['sql_type'] == 'int' else 'a number'),
                         'Correct the value or leave the field empty; the engine cannot load the column otherwise.', line, number)
            return
        if (cde['min'] is not None and number_value < cde['min']) or (cde['max'] is not None and number_value > cde['max']):
            self.problem('Value %s of column "%s" is outside [%s, %s].' % (value, name, cde['min'], cde['max']),
                         'Correct the value or the CDE\'s minValue/maxValue.', line, number)

    def summary(self, delimiter, header):
        if self.suppressed:
            self.issues.append(issue(self.display, '%d more problems in this file are not listed.' % self.suppressed,
                                     'Fix the listed ones and run the check again.'))
        return dict(file=self.display, delimiter=delimiter, columns=list(header), rows=self.rows,
                    datasets=dict(sorted(self.datasets.items())))


def check_csv(path, display, cdes, check_values=True, max_issues=20):
    checker = CsvChecker(display, cdes, check_values, max_issues)
    try:
        with open(path, 'r', newline='', encoding='utf-8-sig') as handle:
            summary = checker.check(handle)
    except UnicodeDecodeError as exc:
        return dict(file=display, delimiter=None, columns=[], rows=checker.rows, datasets={}), [
            issue(display, 'The file is not UTF-8 (after row %d).' % checker.rows, 'Save it as UTF-8: %s.' % exc.reason)]
    except (IOError, OSError) as exc:
        return dict(file=display, delimiter=None, columns=[], rows=0, datasets={}), [
            issue(display, 'Cannot read the file: %s.' % exc.strerror, 'Check that it exists and is readable.')]
    return summary, checker.issues


# --- Access by the engine's user -----------------------------------------------------------------

def access_issue(path, st, uid, gids, is_dir, has_acl=False):
    """A finding when the mode bits deny ``uid``/``gids`` read (and, for directories, search)."""
    if has_acl or uid == 0:
        return None
    need = 5 if is_dir else 4
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == uid:
        bits, who = (mode >> 6) & 7, 'its owner'
    elif st.st_gid in gids:
        bits, who = (mode >> 3) & 7, 'its group'
    else:
        bits, who = mode & 7, 'others'
    if bits & need == need:
        return None
    what = 'directory' if is_dir else 'file'
    grant = 'rx' if is_dir else 'r'
    return issue(path, 'UID %d cannot %s this %s (mode %04o, owner %d, group %d: UID %d counts as %s).'
                 % (uid, 'open' if is_dir else 'read', what, mode, st.st_uid, st.st_gid, uid, who),
                 'chgrp %d %s && chmod g+%s %s (the sciplat.k8s.data_layout role sets this), or chmod o+%s.'
                 % (sorted(gids)[0] if gids else uid, path, grant, path, grant))


def _has_acl(path):
    try:
        return ACL_XATTR in os.listxattr(path)
    except (AttributeError, OSError):
        return False


# --- Data models and the federation folder --------------------------------------------------------

class TreeChecker:
    """Checks a federation folder (the engine's DATA_PATH) and the data-model folders in it."""

    def __init__(self, root, uid=ENGINE_UID, gids=(ENGINE_GID,), check_values=True, max_issues_per_file=20):
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(self.root)
        self.uid = uid
        self.gids = set(gids)
        self.check_values = check_values
        self.max_issues = max_issues_per_file
        self.issues = []
        self.warnings = []

    def _readable(self, path, is_dir):
        try:
            st = os.stat(path)
        except OSError as exc:
            self.issues.append(issue(path, 'Cannot stat: %s.' % exc.strerror, 'Check the path and its permissions.'))
            return False
        if self.uid is None:
            # A source folder (on the controller): the copy sets owner and mode, so the reader is judged there.
            return True
        acl = _has_acl(path)
        if acl:
            self.warnings.append(issue(path, 'Has a POSIX ACL; access for UID %d was not judged from the mode bits.' % self.uid,
                                       'Check the ACL with getfacl if the engine cannot read the data.'))
        problem = access_issue(path, st, self.uid, self.gids, is_dir, acl)
        if problem:
            self.issues.append(problem)
        return True

    def _inside(self, path):
        real = os.path.realpath(path)
        if real == self.real_root or real.startswith(self.real_root.rstrip(os.sep) + os.sep):
            return True
        self.issues.append(issue(path, 'Symbolic link to %s, outside %s: the engine container mounts only %s and cannot follow it.'
                                 % (real, self.root, self.root),
                                 'Copy the data into %s or use a hard link (same file system).' % self.root))
        return False

    def data_model_dirs(self):
        """The folders the engine would consider: the root itself when it holds metadata, then its sub-folders."""
        found = []
        if os.path.isfile(os.path.join(self.root, METADATA_FILE)):
            found.append(self.root)
        for name in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, name)
            if name.startswith('.') or not os.path.isdir(path):
                continue
            found.append(path)
        return found

    def check(self, expected=()):
        if not os.path.isdir(self.root):
            self.issues.append(issue(self.root, 'The data folder does not exist or is not a directory.',
                                     'Create it (the sciplat.k8s.data_layout role does) and put one folder per data model in it.'))
            return self.result([])
        self._readable(self.root, True)
        models = []
        for path in self.data_model_dirs():
            if self._inside(path):
                model = self.check_data_model(path)
                if model is not None:
                    models.append(model)
        names = set(model['folder'] for model in models)
        for name in expected:
            if name not in names and not os.path.isdir(os.path.join(self.root, name)):
                self.issues.append(issue(os.path.join(self.root, name), 'Expected data-model folder is missing.',
                                         'Create it with %s and the CSV files of data model "%s".' % (METADATA_FILE, name)))
        if not models and not expected:
            self.issues.append(issue(self.root, 'No data-model folder was found.',
                                     'Add one folder per data model, each with %s and CSV files.' % METADATA_FILE))
        self._check_unique_models(models)
        return self.result(models)

    def _check_unique_models(self, models):
        seen = {}
        for model in models:
            key = (model['code'], model['version'])
            if key in seen:
                self.issues.append(issue(os.path.join(model['path'], METADATA_FILE),
                                         'Data model %s:%s is also in %s; the engine keeps only one of them.' % (key + (seen[key],)),
                                         'Merge the two folders or give one a different version.'))
            else:
                seen[key] = model['path']

    def check_data_model(self, path):
        metadata_path = os.path.join(path, METADATA_FILE)
        self._readable(path, True)
        if not os.path.isfile(metadata_path):
            self.issues.append(issue(path, 'No %s: the engine ignores this folder.' % METADATA_FILE,
                                     'Put the data model\'s %s in it, or remove the folder.' % METADATA_FILE))
            return None
        if self._inside(metadata_path):
            self._readable(metadata_path, False)
        document, cdes, problems = read_metadata(metadata_path, metadata_path)
        self.issues.extend(problems)
        csv_files = []
        for name in sorted(os.listdir(path)):
            file_path = os.path.join(path, name)
            if name.lower().endswith('.csv') and not name.endswith('.csv'):
                self.warnings.append(issue(file_path, 'The engine loads only names ending in lower-case ".csv"; this file is ignored.',
                                           'Rename it to end in ".csv".'))
            elif name.endswith('.csv') and os.path.isfile(file_path):
                csv_files.append(file_path)
        if not csv_files:
            self.issues.append(issue(path, 'No *.csv file: the engine skips this data model.', 'Add the data model\'s CSV files.'))
        files = []
        for file_path in csv_files:
            if not self._inside(file_path):
                continue
            self._readable(file_path, False)
            if cdes:
                summary, problems = check_csv(file_path, file_path, cdes, self.check_values, self.max_issues)
                self.issues.extend(problems)
                files.append(summary)
        return self._model_summary(path, document, cdes, files)

    def _model_summary(self, path, document, cdes, files):
        document = document if isinstance(document, dict) else {}
        datasets = {}
        for summary in files:
            for code, rows in summary['datasets'].items():
                if code in datasets:
                    self.issues.append(issue(summary['file'], 'Dataset "%s" is also in %s; the engine refuses a dataset split over files.'
                                             % (code, datasets[code]['csv']), 'Keep all rows of dataset "%s" in one CSV file.' % code))
                    continue
                datasets[code] = dict(code=code, csv=summary['file'], rows=rows)
        code = document.get('code')
        version = document.get('version')
        return dict(folder=os.path.basename(path), path=path, code=None if code is None else str(code),
                    version=None if version is None else str(version), label=document.get('label', code),
                    longitudinal=document.get('longitudinal', False) is True, cdes=len(cdes),
                    csv_files=[dict(file=item['file'], rows=item['rows'], columns=len(item['columns']),
                                    delimiter=item['delimiter'], datasets=item['datasets']) for item in files],
                    datasets=[datasets[key] for key in sorted(datasets)],
                    rows=sum(item['rows'] for item in files))

    def result(self, models):
        datasets = [dict(item, data_model='%s:%s' % (model['code'], model['version']), folder=model['folder'])
                    for model in models for item in model['datasets']]
        return dict(valid=not self.issues, data_folder=self.root, data_models=models, datasets=datasets,
                    rows=sum(model['rows'] for model in models), errors=self.issues, warnings=self.warnings)


def check_data_folder(root, expected=(), uid=ENGINE_UID, gids=(ENGINE_GID,), check_values=True, max_issues_per_file=20):
    """Checks ``root`` as the engine's DATA_PATH; returns the summary with ``valid``, ``errors``, ``warnings``.
    With ``uid`` None, access by the engine's user is not judged (a source folder whose copy sets the modes)."""
    return TreeChecker(root, uid, gids, check_values, max_issues_per_file).check(expected)
