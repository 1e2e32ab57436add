// Renders /openapi.json: operations grouped by tag, each with its scope, parameters, request body,
// responses and their schemas (components resolved, recursion cut). No dependencies, works offline.
'use strict';

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

function resolve(doc, schema, seen = new Set()) {
  if (!schema || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map(s => resolve(doc, s, seen));
  if (typeof schema.$ref === 'string') {
    if (seen.has(schema.$ref)) return { $ref: schema.$ref };
    const target = schema.$ref.slice(2).split('/').reduce((node, key) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    return resolve(doc, target, new Set([...seen, schema.$ref]));
  }
  const out = {};
  for (const [key, value] of Object.entries(schema)) out[key] = resolve(doc, value, seen);
  return out;
}

function schemaBlock(doc, content) {
  const parts = [];
  for (const [type, media] of Object.entries(content ?? {})) {
    const name = media.schema?.$ref?.split('/').pop() ?? '';
    const box = el('details', {}, el('summary', {}, el('code', {}, type), name ? ' ' + name : ''));
    box.addEventListener('toggle', () => {
      if (box.open && box.childElementCount === 1) box.append(el('pre', {}, JSON.stringify(resolve(doc, media.schema), null, 2)));
    });
    parts.push(box);
  }
  return parts;
}

function operation(doc, path, method, op) {
  const scope = op['x-required-scope'] ? 'scope: ' + op['x-required-scope'] : 'public';
  const body = el('div', { class: 'body' });
  if (op.description) body.append(el('p', {}, op.description));
  if (op.parameters?.length) {
    body.append(el('h4', {}, 'Parameters'));
    for (const p of op.parameters) body.append(el('div', {}, el('code', {}, p.name), ` (${p.in}${p.required ? ', required' : ''})`));
  }
  if (op.requestBody) {
    body.append(el('h4', {}, 'Request body' + (op.requestBody.required ? '' : ' (optional)')), ...schemaBlock(doc, op.requestBody.content));
  }
  body.append(el('h4', {}, 'Responses'));
  for (const [status, response] of Object.entries(op.responses ?? {})) {
    body.append(el('div', {}, el('strong', {}, status), ' ' + (response.description ?? '')), ...schemaBlock(doc, response.content));
  }
  const details = el('details', { class: 'op', id: op.operationId ?? '' },
    el('summary', {}, el('span', { class: 'method ' + method }, method), el('span', { class: 'path' }, path),
      el('span', {}, op.summary ?? ''), el('span', { class: 'scope' }, scope)),
    body);
  details.dataset.search = [method, path, op.summary, scope].join(' ').toLowerCase();
  return details;
}

async function main() {
  const main = document.getElementById('operations');
  let doc;
  try {
    const response = await fetch('/openapi.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    doc = await response.json();
  } catch (e) {
    main.textContent = 'Could not load /openapi.json: ' + e.message;
    return;
  }
  document.getElementById('title').textContent = `${doc.info.title} ${doc.info.version}`;
  document.getElementById('description').textContent = doc.info.description ?? '';
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = op.tags?.[0] ?? 'other';
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(doc, path, method, op));
    }
  }
  main.replaceChildren();
  for (const [tag, ops] of groups) main.append(el('section', {}, el('h2', {}, tag), ...ops));
  document.getElementById('filter').addEventListener('input', e => {
    const words = e.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const op of main.querySelectorAll('details.op')) op.hidden = !words.every(w => op.dataset.search.includes(w));
    for (const section of main.querySelectorAll('section')) section.hidden = !section.querySelector('details.op:not([hidden])');
  });
}

main();
