// The upload page: one upload at a time through the API the page documents. Every refusal is
// shown with the message of the API's JSON error.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $('upload-form');
  const fileInput = $('file');
  const progress = $('progress');
  const status = $('status');
  const error = $('error');
  const result = $('result');
  const lifetime = $('expires-in');
  const current = { imageKey: '', updateKey: '', deleteKey: '' };
  let busy = false;

  function say(text) {
    error.textContent = '';
    status.textContent = text;
  }

  function fail(text) {
    status.textContent = '';
    error.textContent = text;
  }

  /** The API's own message when the answer is its JSON error, else what went wrong. */
  function messageOf(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && typeof body.message === 'string') return `${body.message} (${xhr.status} ${body.code || body.error || ''})`.trim();
    } catch {
      // not JSON: fall through
    }
    return xhr.status === 0 ? 'The server could not be reached; try again.' : `The server answered ${xhr.status}.`;
  }

  /** Sends a request with upload progress; resolves with the XMLHttpRequest once answered. */
  function send(method, url, body, headers) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader('Accept', 'application/json');
      for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
      });
      xhr.addEventListener('loadend', () => resolve(xhr));
      xhr.send(body);
    });
  }

  /**
   * Offers only the lifetimes the server allows (data-max: MAX_IMAGE_LIFETIME, empty when
   * uncapped), with its longest when none of ours fits, and selects its default.
   */
  function offerLifetimes() {
    const max = Number(lifetime.dataset.max) || 0;
    const byDefault = Number(lifetime.dataset.default) || 0;
    for (const option of [...lifetime.options]) {
      const seconds = Number(option.value);
      if (max > 0 && (seconds === 0 || seconds > max)) option.remove();
    }
    if (max > 0 && ![...lifetime.options].some((option) => Number(option.value) === max)) {
      const hours = max / 3600;
      const label = hours >= 48 ? `${Math.floor(hours / 24)} days` : hours >= 1 ? `${Math.floor(hours)} hours` : `${max} seconds`;
      lifetime.add(new Option(`after ${label} (the longest allowed)`, String(max)));
    }
    const choices = [...lifetime.options].map((option) => Number(option.value));
    const fitting = choices.filter((seconds) => seconds > 0 && seconds <= byDefault);
    const chosen = byDefault === 0 ? (choices.includes(0) ? 0 : Math.max(...choices)) : choices.includes(byDefault) ? byDefault : fitting.length > 0 ? Math.max(...fitting) : Math.min(...choices);
    lifetime.value = String(chosen);
  }

  function show(answer) {
    current.imageKey = answer.image_key;
    current.updateKey = answer.update_key;
    current.deleteKey = answer.delete_key;
    $('link').value = answer.url;
    $('update-key').value = answer.update_key;
    $('delete-key').value = answer.delete_key;
    const preview = $('preview');
    // A fresh query each time, so a replacement is not shown from the cache.
    preview.src = `${answer.url}?v=${encodeURIComponent(answer.update_key.slice(0, 8))}`;
    result.hidden = false;
  }

  async function upload(file, replacing) {
    if (!file || busy) return;
    busy = true;
    progress.value = 0;
    say(`${replacing ? 'Replacing with' : 'Uploading'} ${file.name}…`);
    const data = new FormData();
    // A replacement keeps the image's expiry; a new upload says how long it may live.
    if (!replacing) data.append('expires_in', lifetime.value);
    data.append('image', file, file.name);
    const xhr = replacing
      ? await send('PATCH', `/${encodeURIComponent(current.imageKey)}`, data, { 'X-Update-Key': current.updateKey })
      : await send('POST', '/', data);
    busy = false;
    if (xhr.status === 200 || xhr.status === 201 || xhr.status === 202) {
      const answer = JSON.parse(xhr.responseText);
      show(answer);
      progress.value = 100;
      const pending = xhr.status === 202 ? ' It is still being processed and will show in a moment.' : '';
      const expires = answer.expires_at ? ` It will be deleted on ${new Date(answer.expires_at).toLocaleString()}.` : '';
      say(`${replacing ? 'Replaced' : 'Uploaded'}: ${answer.width && answer.height ? `${answer.width} × ${answer.height}, ` : ''}${answer.bytes} bytes. The keys are below.${expires}${pending}`);
    } else {
      progress.value = 0;
      fail(messageOf(xhr));
    }
  }

  async function remove() {
    if (busy || !current.imageKey) return;
    if (!window.confirm('Delete this image for good? It cannot be restored.')) return;
    busy = true;
    const xhr = await send('DELETE', `/${encodeURIComponent(current.imageKey)}`, JSON.stringify({ delete_key: current.deleteKey }), {
      'Content-Type': 'application/json',
    });
    busy = false;
    if (xhr.status === 200) {
      result.hidden = true;
      current.imageKey = '';
      $('preview').removeAttribute('src');
      say('Deleted. The link no longer works.');
      fileInput.focus();
    } else {
      fail(messageOf(xhr));
    }
  }

  async function copy(id) {
    const field = $(id);
    try {
      await navigator.clipboard.writeText(field.value);
    } catch {
      // No clipboard API (a page over plain HTTP): copy the selected text instead.
      field.select();
      document.execCommand('copy');
    }
    say(`Copied the ${field.labels[0].textContent.split(' (')[0].toLowerCase()}.`);
  }

  offerLifetimes();
  fileInput.addEventListener('change', () => {
    void upload(fileInput.files[0], false);
    fileInput.value = '';
  });
  $('replacement').addEventListener('change', (event) => {
    void upload(event.target.files[0], true);
    event.target.value = '';
  });
  $('delete').addEventListener('click', () => void remove());
  for (const button of document.querySelectorAll('button.copy')) button.addEventListener('click', () => void copy(button.dataset.copy));
  form.addEventListener('submit', (event) => event.preventDefault());
  $('replace-form').addEventListener('submit', (event) => event.preventDefault());

  // Dropping a file anywhere on the upload area uploads it.
  form.addEventListener('dragover', (event) => {
    event.preventDefault();
    form.classList.add('dragging');
  });
  form.addEventListener('dragleave', () => form.classList.remove('dragging'));
  form.addEventListener('drop', (event) => {
    event.preventDefault();
    form.classList.remove('dragging');
    void upload(event.dataTransfer.files[0], false);
  });
})();
