export { AppError, ERROR_CODES, isErrorCode, type ErrorBody, type ErrorCode } from './app-error.js';
export { errorMessage } from './error-message.js';
