"""Write each role's variable tables into its README.md from meta/argument_specs.yml.

The argument specs are what ansible-core validates the variables against, so they are the one place a variable is
documented; the README gets a generated copy between two markers and hand-written prose around it.

    python scripts/role_docs.py            # rewrite the generated sections
    python scripts/role_docs.py --check    # exit 1 naming the READMEs that are out of date
"""
import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN = '<!-- BEGIN generated from meta/argument_specs.yml: python scripts/role_docs.py -->'
END = '<!-- END generated -->'
DEFAULT_WIDTH = 60
MISSING = object()
# One level of nested parentheses, because C() often quotes a call such as C(lookup('env', 'HOME')).
MARKUP = re.compile(r"\b([OVCMIEPU])\(((?:[^()]|\([^()]*\))*)\)")


def markdown(text):
    def convert(match):
        kind, body = match.groups()
        if kind == 'U':
            return f'<{body}>'
        if kind == 'I':
            return f'*{body}*'
        return f'`{body}`'
    return MARKUP.sub(convert, text)


def cell(text):
    # A pipe ends a table cell even inside a code span; a newline ends the row.
    return text.replace('|', '\\|').replace('\n', ' ')


def default_text(option, defaults):
    if 'default' in option:
        value = option['default']
    elif defaults is not MISSING:
        # Specs leave out defaults that are templates; defaults/main.yml still holds what the role uses.
        value = defaults
    else:
        return ''
    if isinstance(value, str) and '{{' in value:
        # YAML quoting would double every quote inside the expression.
        text = value
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=float('inf'), sort_keys=False)
        text = text.strip().removesuffix('...').strip()
    if len(text) > DEFAULT_WIDTH:
        text = text[:DEFAULT_WIDTH - 1] + '…'
    return f'`{text}`'


def type_text(option):
    kind = option.get('type', 'str')
    return f"{kind} of {option['elements']}" if 'elements' in option else kind


def description_text(option):
    description = option.get('description', [])
    parts = [description] if isinstance(description, str) else list(description)
    if option.get('choices'):
        parts.append('Choices: ' + ', '.join(f'V({choice})' for choice in option['choices']) + '.')
    return markdown(' '.join(parts))


def entry_point_section(name, spec, defaults, earlier):
    lines = [f'### Entry point `{name}`', '']
    if spec.get('short_description'):
        lines += [markdown(spec['short_description']) + '.', '']
    options = spec.get('options') or {}
    if not options:
        return lines + ['No options.', '']
    # Entry points often share the main options through a YAML anchor; one table of them is enough.
    same = next((other for other, other_options in earlier.items() if other_options == options), None)
    if same:
        return lines + [f'Takes the options of `{same}`.', '']
    return lines + ['| Variable | Type | Default | Required | Description |', '|---|---|---|---|---|'] + rows(options, defaults) + ['']


def rows(options, defaults, prefix=''):
    """One row per option, then one per suboption (as `parent.child`), so the fields of list items are documented too."""
    lines = []
    for name, option in options.items():
        required = 'yes' if option.get('required') else ''
        lines.append(f'| `{prefix}{name}` | {cell(type_text(option))} | {cell(default_text(option, defaults.get(name, MISSING)))} '
                     f'| {required} | {cell(description_text(option))} |')
        lines += rows(option.get('options') or {}, {}, f'{prefix}{name}.')
    return lines


def generated(role):
    specs = yaml.safe_load((role / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
    defaults_file = role / 'defaults' / 'main.yml'
    defaults = (yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else None) or {}
    order = ['main'] + [name for name in specs if name != 'main']
    lines, earlier = [BEGIN, ''], {}
    for name in order:
        if name in specs:
            lines += entry_point_section(name, specs[name], defaults, earlier)
            earlier[name] = specs[name].get('options') or {}
    return '\n'.join(lines + [END])


def updated(readme_text, block):
    start, end = readme_text.find(BEGIN), readme_text.find(END)
    if start == -1 or end == -1:
        return readme_text.rstrip('\n') + '\n\n## Variables\n\n' + block + '\n'
    return readme_text[:start] + block + readme_text[end + len(END):]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='change nothing; exit 1 when a README is out of date')
    args = parser.parse_args()
    stale = []
    for role in sorted((ROOT / 'roles').iterdir()):
        if not (role / 'meta' / 'argument_specs.yml').exists():
            continue
        readme = role / 'README.md'
        current = readme.read_text() if readme.exists() else ''
        wanted = updated(current, generated(role))
        if wanted == current:
            continue
        stale.append(str(readme.relative_to(ROOT)))
        if not args.check:
            readme.write_text(wanted)
    if args.check and stale:
        print('Out of date (run python scripts/role_docs.py): ' + ', '.join(stale), file=sys.stderr)
        return 1
    for path in stale:
        print(f'Updated {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
